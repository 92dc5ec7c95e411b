import { describe, expect, it } from 'vitest';
import { findTables, MAX_CARD_TABLES, splitAtTables } from '../../src/channels/feishu/card-tables.js';
import { renderMessages } from '../../src/channels/feishu/format.js';
import { previewText, streamedReply } from '../../src/channels/feishu/streaming-card.js';
import { tablesIn } from '../fakes/feishu/cards.js';

/** A report as agents write them: per region a heading, a sentence and a table. */
const section = (i: number) => `## Region ${i}\n\nSales in region ${i}:\n\n| Month | Sales |\n|:---|---:|\n| Jan | ${i}00 |\n| Feb | ${i}10 |`;
const report = (regions: number) => `${Array.from({ length: regions }, (_, i) => section(i + 1)).join('\n\n')}\n\nThat is all.`;
/** Tables the fake Feishu counts in a markdown text (its own reading, not ours). */
const tablesSeenByFeishu = (markdown: string) => tablesIn({ body: { elements: [{ tag: 'markdown', content: markdown }] } });
const cardMarkdown = (content: string) => (JSON.parse(content) as { body: { elements: { content: string }[] } }).body.elements[0]!.content;

describe('tables in a Feishu card (at most five each)', () => {
  it('finds GFM tables, and not pipes in code, shell lines or a row over a rule of another width', () => {
    const text = [
      '| a | b |\n|---|---|\n| 1 | 2 |',
      '```\n| x | y |\n|---|---|\n```',
      'run `cat a | grep b` first',
      'a | b\n---',
      'Name|Age\n-|-\nAnn|3',
    ].join('\n\n');
    const tables = findTables(text);
    expect(tables.map((t) => text.slice(t.start, t.end))).toEqual(['| a | b |\n|---|---|\n| 1 | 2 |', 'Name|Age\n-|-\nAnn|3']);
  });

  it('ends a table at a blank line or the next block, so the heading after it is not a row', () => {
    const text = '| a | b |\n|---|---|\n| 1 | 2 |\n## Next\n\ntext';
    const [table] = findTables(text);
    expect(text.slice(table!.start, table!.end)).toBe('| a | b |\n|---|---|\n| 1 | 2 |');
  });

  it('cuts a reply of twelve tables after the fifth and the tenth, each heading staying with its table', () => {
    const text = report(12);
    const parts = splitAtTables(text);
    expect(parts.map(tablesSeenByFeishu)).toEqual([5, 5, 2]);
    expect(parts.map((p) => p.split('\n')[0])).toEqual(['## Region 1', '## Region 6', '## Region 11']);
    expect(parts[2]!.endsWith('That is all.')).toBe(true);
    // Nothing lost or moved: the cuts fall on paragraph breaks.
    expect(parts.join('\n\n')).toBe(text);
  });

  it('leaves a reply of five tables or fewer as it is', () => {
    expect(splitAtTables(report(MAX_CARD_TABLES))).toEqual([report(MAX_CARD_TABLES)]);
    expect(splitAtTables('no tables | at all')).toEqual(['no tables | at all']);
  });

  it('sends such a reply as cards Feishu takes: none over five tables, in order', () => {
    const bodies = renderMessages(report(12), 'markdown');
    expect(bodies.map((b) => b.msg_type)).toEqual(['interactive', 'interactive', 'interactive']);
    expect(bodies.map((b) => tablesSeenByFeishu(cardMarkdown(b.content)))).toEqual([5, 5, 2]);
    // Each card keeps its markdown for the text stand-in.
    expect(bodies.map((b) => b.markdown)).toEqual(splitAtTables(report(12)));
  });

  it('sends a table too long for one card as cards that each start with its header rows', () => {
    const rows = Array.from({ length: 1_500 }, (_, i) => `| order-${i} | ${i % 7} | shipped on time |`);
    const text = `Orders:\n\n| Order | Boxes | State |\n|---|---:|---|\n${rows.join('\n')}`;
    const bodies = renderMessages(text, 'markdown');
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    const parts = bodies.map((b) => cardMarkdown(b.content));
    for (const part of parts.slice(1)) expect(part.startsWith('| Order | Boxes | State |\n|---|---:|---|\n| order-')).toBe(true);
    expect(parts.map(tablesSeenByFeishu)).toEqual(parts.map(() => 1));
    expect(parts.join('\n').split('\n').filter((l) => l.startsWith('| order-'))).toEqual(rows);
  });

  it('finishes a streaming card with five tables and sends the rest as a message; the preview never shows a sixth', () => {
    const text = report(8);
    const streamed = streamedReply(text, 'markdown');
    const finished = JSON.parse(streamed.card) as { body: { elements: { content: string }[] } };
    expect(tablesSeenByFeishu(finished.body.elements[0]!.content)).toBe(5);
    expect(streamed.rest.map((b) => tablesSeenByFeishu(cardMarkdown(b.content)))).toEqual([3]);
    expect(tablesSeenByFeishu(previewText(text))).toBe(5);
    expect(previewText(text)).toBe(finished.body.elements[0]!.content);
    // While the sixth table is being written, the preview stays at the first five.
    const partway = text.slice(0, text.indexOf('| Jan | 600 |'));
    expect(previewText(partway)).toBe(previewText(text));
  });
});
