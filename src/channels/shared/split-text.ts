import { isDelimiterRow, isTableRow } from './markdown-tables.js';

export interface SplitOptions {
  /**
   * Keep fenced code blocks whole: a cut that must fall inside a ``` / ~~~ block closes the fence
   * at the end of the chunk and reopens it (same opening line, so the same language) at the start
   * of the next, and whitespace inside the block is kept as written.
   */
  fences?: boolean;
  /**
   * The cost of a piece of text in the final payload, e.g. its size once JSON-encoded. It must be
   * additive (cost(a + b) = cost(a) + cost(b)): the splitter sums it code point by code point.
   * Default: UTF-8 bytes.
   */
  measure?: (text: string) => number;
  /**
   * Keep tables readable: a cut that falls between the rows of a markdown table starts the next
   * chunk with the table's header and delimiter rows again, so its rows still render as a table.
   */
  tables?: boolean;
}

/**
 * Splits a reply into chunks of at most `maxBytes` (UTF-8 bytes, or `options.measure`), cutting at
 * the cleanest boundary available: blank line (paragraph), line break, sentence end, space, and
 * only as a last resort inside a word (never inside a character).
 */
export function splitText(text: string, maxBytes: number | undefined, options: SplitOptions = {}): string[] {
  const measure = options.measure ?? byteLength;
  if (!maxBytes || measure(text) <= maxBytes) return [text];
  const chunks: string[] = [];
  let rest = text;
  while (measure(rest) > maxBytes) {
    const piece = (options.fences ? fencedPiece(rest, maxBytes, measure) : undefined) ?? plainPiece(rest, maxBytes, measure);
    const cut = options.tables ? keepTableReadable(piece, maxBytes, measure) : piece;
    chunks.push(cut.chunk);
    rest = cut.rest;
  }
  if (rest.length > 0) chunks.push(rest);
  return chunks.filter((c) => c.length > 0);
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Characters as a person counts them: code points (an emoji outside the BMP is one, not two). */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

interface Piece {
  chunk: string;
  rest: string;
}

function plainPiece(rest: string, maxBytes: number, measure: (text: string) => number): Piece {
  const window = prefixWithin(rest, maxBytes, measure);
  const cut = bestCut(window);
  return { chunk: rest.slice(0, cut).trimEnd(), rest: rest.slice(cut).replace(/^\s+/, '') };
}

/** The longest prefix of `text` that fits in `maxBytes`, never splitting a code point; at least one code point, so every cut makes progress. */
function prefixWithin(text: string, maxBytes: number, measure: (text: string) => number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = measure(ch);
    if (bytes + size > maxBytes && end > 0) break;
    bytes += size;
    end += ch.length;
    if (bytes >= maxBytes) break;
  }
  return text.slice(0, end);
}

const SENTENCE_END = /[.!?。！？…；;](?=\s|$)|[。！？…；]/g;

const HEADING_LINE = /^ {0,3}#{1,6}[ \t]/;

/** A cut at a line break that would end the chunk with a heading moves before the heading: it stays with its text. */
function keepHeadingWithText(window: string, cut: number, minimum: number): number {
  let c = cut;
  for (;;) {
    const lineStart = window.lastIndexOf('\n', c - 1) + 1;
    if (!HEADING_LINE.test(window.slice(lineStart, c))) return c;
    let before = lineStart - 1;
    while (before > 0 && window[before - 1] === '\n') before--;
    if (before <= minimum) return cut;
    c = before;
  }
}

function bestCut(window: string): number {
  const minimum = Math.floor(window.length * 0.3);
  const paragraph = window.lastIndexOf('\n\n');
  if (paragraph > minimum) return keepHeadingWithText(window, paragraph, minimum);
  const line = window.lastIndexOf('\n');
  if (line > minimum) return keepHeadingWithText(window, line, minimum);
  let sentence = -1;
  for (const match of window.matchAll(SENTENCE_END)) sentence = match.index + match[0].length;
  if (sentence > minimum) return sentence;
  const space = window.lastIndexOf(' ');
  if (space > minimum) return space;
  return window.length;
}

// CommonMark fences: up to 3 spaces of indent, 3+ backticks or tildes; a backtick info string has no backtick.
const FENCE_OPEN = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;

interface OpenFence {
  /** The opening line as written (indent, marker, language). */
  line: string;
  marker: string;
  start: number;
  /** Where the first code line starts (just after the opening line's newline). */
  contentStart: number;
}

interface FenceState {
  open?: OpenFence;
  /** Start of an opening line the cut falls into (outside any block). */
  partialOpener?: number;
  /** Start and end of the closing line the cut falls into (inside `open`). */
  partialCloser?: { start: number; end: number };
}

/** Whether position `cut` of `text` lies inside a fenced block, reading the lines before it. */
function fenceAt(text: string, cut: number): FenceState {
  let open: OpenFence | undefined;
  let start = 0;
  while (start < cut) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const line = text.slice(start, end);
    const closes = open !== undefined && closesFence(line, open.marker);
    if (end > cut) {
      // The cut falls inside this line: a fence line cut in two needs care.
      if (!open) return FENCE_OPEN.test(line) ? { partialOpener: start } : {};
      return closes ? { open, partialCloser: { start, end } } : { open };
    }
    if (!open) {
      const m = FENCE_OPEN.exec(line);
      if (m) open = { line, marker: m[1]!, start, contentStart: end + 1 };
    } else if (closes) {
      open = undefined;
    }
    start = end + 1;
  }
  return { open };
}

function closesFence(line: string, marker: string): boolean {
  const m = FENCE_CLOSE.exec(line);
  return m !== null && m[1]![0] === marker[0] && m[1]!.length >= marker.length;
}

/** A cut outside any fenced block: whitespace around it goes. */
function cutAt(rest: string, cut: number): Piece {
  return { chunk: rest.slice(0, cut).trimEnd(), rest: rest.slice(cut).replace(/^\s+/, '') };
}

/**
 * Like the plain cut, but a cut inside a fenced block closes it and reopens it in the rest. Undefined
 * when nothing sensible fits (a budget smaller than a fence line and a character): the plain cut then.
 */
function fencedPiece(rest: string, maxBytes: number, measure: (text: string) => number): Piece | undefined {
  let reserve = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const window = prefixWithin(rest, maxBytes - reserve, measure);
    let cut = bestCut(window);
    const state = fenceAt(rest, cut);
    // Never cut an opening line in two: the block starts the next chunk.
    if (state.partialOpener !== undefined) return state.partialOpener > 0 ? cutAt(rest, state.partialOpener) : undefined;
    const open = state.open;
    if (!open) return cutAt(rest, cut);
    const body = (c: number) => rest.slice(0, c).replace(/(?:\n[ \t]*)+$/, '');
    if (body(cut).length < open.contentStart) {
      // Not one code line fits after the opening line: move the whole block to the next chunk,
      // or, when the block already starts this chunk, cut inside its first line.
      if (open.start > 0) return cutAt(rest, open.start);
      cut = window.length;
      if (body(cut).length < open.contentStart) return undefined;
    }
    const closer = `\n${open.marker}`;
    if (state.partialCloser) {
      // The block's own closing line is cut in two: close it here and go on after that line.
      const chunk = body(state.partialCloser.start) + closer;
      if (measure(chunk) <= maxBytes) return { chunk, rest: rest.slice(state.partialCloser.end).replace(/^\s+/, '') };
      reserve = measure(closer);
      continue;
    }
    const chunk = body(cut) + closer;
    if (measure(chunk) <= maxBytes) {
      // Only the line break at the cut goes: indentation of the next code line is content.
      const next = `${open.line}\n${rest.slice(cut).replace(/^(?:[ \t]*\n)+/, '')}`;
      return next.length < rest.length ? { chunk, rest: next } : undefined;
    }
    reserve = measure(closer);
  }
  return undefined;
}

/**
 * A cut that falls inside a markdown table, made readable on both sides:
 * - a header row cut from its delimiter row, or the two without a data row, move to the next chunk
 *   (when something else stays in this one);
 * - a cut between data rows starts the next chunk with the header and delimiter rows again (when
 *   the two take at most half a chunk, so the next chunk has room for rows).
 */
function keepTableReadable(piece: Piece, maxBytes: number, measure: (text: string) => number): Piece {
  const { chunk, rest } = piece;
  const newline = rest.indexOf('\n');
  const firstLine = newline === -1 ? rest : rest.slice(0, newline);
  if (!isTableRow(firstLine)) return piece;
  const lines = chunk.split('\n');
  const last = lines.length - 1;
  const headerAt = isDelimiterRow(firstLine) && isTableRow(lines[last]) ? last : isDelimiterRow(lines[last]) && isTableRow(lines[last - 1]) ? last - 1 : -1;
  if (headerAt >= 0) {
    const kept = lines.slice(0, headerAt).join('\n').trimEnd();
    return kept === '' ? piece : { chunk: kept, rest: `${lines.slice(headerAt).join('\n')}\n${rest}` };
  }
  for (let i = last; i >= 1; i--) {
    if (!isTableRow(lines[i])) return piece;
    if (isDelimiterRow(lines[i]) && isTableRow(lines[i - 1])) {
      const head = `${lines[i - 1]}\n${lines[i]}\n`;
      return measure(head) * 2 <= maxBytes ? { chunk, rest: head + rest } : piece;
    }
  }
  return piece;
}
