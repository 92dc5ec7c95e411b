import { describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES, encodedBytes, renderMessages, type FeishuMessageBody } from '../../src/channels/feishu/format.js';
import { CARD_TEXT_BUDGET, cardMessage, previewText, REPLY_ELEMENT_ID, streamedReply, streamingCard } from '../../src/channels/feishu/streaming-card.js';

/** The parsed card JSON 2.0 of a card entity. */
interface Card {
  schema: string;
  config: { streaming_mode: boolean; summary?: { content: string }; streaming_config?: unknown };
  body: { elements: { tag: string; element_id?: string; content?: string; text?: { tag: string; content: string } }[] };
}

const parse = (json: string) => JSON.parse(json) as Card;
/** What the card's one element shows. */
const shownIn = (card: Card) => card.body.elements[0]!.content ?? card.body.elements[0]!.text!.content;
/** What a follow-up message shows. */
const shownBy = (body: FeishuMessageBody) => {
  const content = JSON.parse(body.content) as { text?: string; body?: { elements: { content: string }[] } };
  return body.msg_type === 'text' ? content.text! : content.body!.elements[0]!.content;
};
/** The request that finishes a card in place (PUT cardkit/v1/cards/:card_id), as sent. */
const updateBytes = (card: string) => Buffer.byteLength(JSON.stringify({ card: { type: 'card_json', data: card }, sequence: 2_147_483_647 }), 'utf8');
const fences = (text: string) => text.split('\n').filter((l) => /^```/.test(l)).length;

const LONG_CODE = Array.from({ length: 1_500 }, (_, i) => `const line${i} = "${'x'.repeat(20)}"; // 第${i}行`).join('\n');
const LONG_MARKDOWN = `## Result\n\nHere is the code:\n\n\`\`\`ts\n${LONG_CODE}\n\`\`\`\n\nDone.`;

describe('feishu streaming card', () => {
  it('streams in a markdown element with the typewriter pace set, and is sent by its card_id', () => {
    const card = parse(streamingCard('first **words**'));
    expect(card).toMatchObject({ schema: '2.0', config: { streaming_mode: true }, body: { elements: [{ tag: 'markdown', element_id: REPLY_ELEMENT_ID, content: 'first **words**' }] } });
    expect(card.config.streaming_config).toBeDefined();
    expect(cardMessage('7123')).toEqual({ msg_type: 'interactive', content: '{"type":"card","data":{"card_id":"7123"}}' });
  });

  it('finishes plain text verbatim in a plain_text element and markdown in a markdown element, streaming off', () => {
    const plain = streamedReply('2 * 3 = 6, and snake_case_name stays', 'markdown');
    expect(plain.rest).toEqual([]);
    expect(parse(plain.card)).toMatchObject({
      config: { streaming_mode: false, summary: { content: '2 * 3 = 6, and snake_case_name stays' } },
      body: { elements: [{ tag: 'div', element_id: REPLY_ELEMENT_ID, text: { tag: 'plain_text', content: '2 * 3 = 6, and snake_case_name stays' } }] },
    });
    const markdown = streamedReply('# Title\n\nSome **bold** text', 'markdown');
    expect(parse(markdown.card).body.elements).toEqual([{ tag: 'markdown', element_id: REPLY_ELEMENT_ID, content: '# Title\n\nSome **bold** text' }]);
    // The summary the chat list shows is the text, not its markup.
    expect(parse(markdown.card).config.summary?.content).toBe('Title Some bold text');
    // A text-format reply is never read as markdown, whatever it contains.
    expect(parse(streamedReply('# not a heading', 'text').card).body.elements[0]!.tag).toBe('div');
  });

  it('cuts a long summary at 60 characters with an ellipsis', () => {
    const text = '这是一个很长的回答，'.repeat(20);
    const summary = parse(streamedReply(text, 'text').card).config.summary!.content;
    expect([...summary]).toHaveLength(60);
    expect(summary.endsWith('…')).toBe(true);
    expect(text.startsWith(summary.slice(0, -1))).toBe(true);
  });

  it('puts a card\'s worth of a long reply in the card and the rest in messages, each under 30 KB, code fences whole', () => {
    const { card, rest } = streamedReply(LONG_MARKDOWN, 'markdown');
    expect(updateBytes(card)).toBeLessThan(BODY_LIMIT_BYTES.interactive);
    expect(rest.length).toBeGreaterThanOrEqual(1);
    for (const body of rest) expect(body.msg_type).toBe('interactive');
    const parts = [shownIn(parse(card)), ...rest.map(shownBy)];
    for (const part of parts) expect(fences(part) % 2).toBe(0);
    // Nothing lost: every line of the code is in exactly one part.
    const lines = parts.join('\n').split('\n').filter((l) => l.startsWith('const line'));
    expect(lines).toHaveLength(1_500);
    expect(new Set(lines).size).toBe(1_500);
    // The follow-ups are what a reply without a card would send after its first part.
    expect(renderMessages(LONG_MARKDOWN, 'markdown').length).toBeGreaterThanOrEqual(rest.length);
  });

  it('previews the part the finished card will hold, without markdown images', () => {
    expect(previewText('Here is the chart: ![chart](https://img.example/c.png) and more')).toBe('Here is the chart:  and more');
    // A link being written is not shown half-made either.
    expect(previewText('Drawing ![chart](https://img.exa')).toBe('Drawing');
    const preview = previewText(LONG_MARKDOWN);
    expect(preview).toBe(shownIn(parse(streamedReply(LONG_MARKDOWN, 'markdown').card)));
    expect(Buffer.byteLength(JSON.stringify(JSON.stringify(preview)), 'utf8')).toBeLessThanOrEqual(CARD_TEXT_BUDGET + 2 * 3);
  });

  it('keeps a card filled to its budget, with the costliest summary, under the 30 KB request limit', () => {
    // Quotes cost 4 bytes each once escaped twice: the most a 60-character summary can take.
    const head = '"'.repeat(60);
    const text = head + 'a'.repeat(CARD_TEXT_BUDGET - encodedBytes(head));
    const { card, rest } = streamedReply(text, 'text');
    expect(rest).toEqual([]);
    expect(shownIn(parse(card))).toBe(text);
    expect(updateBytes(card)).toBeLessThan(BODY_LIMIT_BYTES.interactive);
    // One character more does not fit: it goes to a message of its own.
    expect(streamedReply(`${text}b`, 'text').rest.map(shownBy)).toEqual(['b']);
  });
});
