/**
 * Feishu renders each markdown table in a card as a table component, and a card holds at most five
 * of them (表格组件: 单张卡片最多支持放置五个表格组件). A card with a sixth is refused whole
 * (230099, ErrCode 11310 "card table number over limit"), so a reply with many tables is cut into
 * cards of at most five: each cut falls just after a table ends, so the text that introduces the
 * next table goes with it.
 */

import { isDelimiterRow, isTableRow } from '../shared/markdown-tables.js';

export const MAX_CARD_TABLES = 5;

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Lines that start another block and so end a table: a heading, quote, list item or fence. */
const BLOCK_START = /^ {0,3}(?:#{1,6}(?:[ \t]|$)|>|[-*+][ \t]|\d{1,9}[.)][ \t]|`{3,}|~{3,})/;

interface TableSpan {
  /** Offset of the header row. */
  start: number;
  /** Offset just past the table's last row (a blank line, another block or the end of the text ends it). */
  end: number;
}

/** Where the tables of `markdown` are, outside fenced code. */
export function findTables(markdown: string): TableSpan[] {
  const lines: { text: string; at: number }[] = [];
  for (let at = 0; at <= markdown.length; ) {
    const newline = markdown.indexOf('\n', at);
    const end = newline === -1 ? markdown.length : newline;
    lines.push({ text: markdown.slice(at, end), at });
    at = end + 1;
  }
  const tables: TableSpan[] = [];
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const { text } = lines[i]!;
    const marker = FENCE.exec(text)?.[1];
    if (fence !== undefined) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && text.trim() === marker) fence = undefined;
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    const next = lines[i + 1]?.text;
    if (!isTableRow(text) || !isDelimiterRow(next) || cellCount(text) !== cellCount(next)) continue;
    let last = i + 1;
    while (last + 1 < lines.length && lines[last + 1]!.text.trim() !== '' && !BLOCK_START.test(lines[last + 1]!.text)) last++;
    const after = lines[last]!;
    tables.push({ start: lines[i]!.at, end: after.at + after.text.length });
    i = last;
  }
  return tables;
}

/** Cells of a table row: its pipes, leaving out a leading and a trailing one (escaped pipes aside). */
function cellCount(row: string): number {
  const inner = row.trim().replace(/\\\|/g, '').replace(/^\|/, '').replace(/\|$/, '');
  return inner.split('|').length;
}

/**
 * `markdown` as parts of at most `max` tables each, cut just after a table: usually the text
 * itself. Nothing is dropped but the whitespace at a cut.
 */
export function splitAtTables(markdown: string, max = MAX_CARD_TABLES): string[] {
  const tables = findTables(markdown);
  if (tables.length <= max) return [markdown];
  const parts: string[] = [];
  let from = 0;
  // Blank lines at a cut go; a following line keeps its indentation.
  const part = (end?: number) => markdown.slice(from, end).replace(/^(?:[ \t]*\n)+/, '').trimEnd();
  for (let i = max - 1; i < tables.length - 1; i += max) {
    const cut = tables[i]!.end;
    parts.push(part(cut));
    from = cut;
  }
  parts.push(part());
  return parts.filter((part) => part !== '');
}
