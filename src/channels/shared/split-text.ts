/**
 * Splits a reply into chunks of at most `maxBytes` UTF-8 bytes, cutting at the cleanest boundary
 * available: blank line (paragraph), line break, sentence end, space, and only as a last resort
 * inside a word (never inside a character).
 */
export function splitText(text: string, maxBytes: number | undefined): string[] {
  if (!maxBytes || byteLength(text) <= maxBytes) return [text];
  const chunks: string[] = [];
  let rest = text;
  while (byteLength(rest) > maxBytes) {
    const window = prefixWithinBytes(rest, maxBytes);
    const cut = bestCut(window);
    chunks.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0) chunks.push(rest);
  return chunks.filter((c) => c.length > 0);
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The longest prefix of `text` that fits in `maxBytes`, never splitting a code point. */
function prefixWithinBytes(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = byteLength(ch);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

const SENTENCE_END = /[.!?。！？…；;](?=\s|$)|[。！？…；]/g;

function bestCut(window: string): number {
  const minimum = Math.floor(window.length * 0.3);
  const paragraph = window.lastIndexOf('\n\n');
  if (paragraph > minimum) return paragraph;
  const line = window.lastIndexOf('\n');
  if (line > minimum) return line;
  let sentence = -1;
  for (const match of window.matchAll(SENTENCE_END)) sentence = match.index + match[0].length;
  if (sentence > minimum) return sentence;
  const space = window.lastIndexOf(' ');
  if (space > minimum) return space;
  return window.length;
}
