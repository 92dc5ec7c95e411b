import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BODY_LIMIT_BYTES,
  cardContent,
  chooseMsgType,
  chunkUuid,
  createMessageBody,
  encodedBytes,
  looksLikeMarkdown,
  renderMessages,
  replyMessageBody,
  requestBodyBytes,
  UUID_MAX_LENGTH,
  type FeishuMessageBody,
} from '../../src/channels/feishu/format.js';
import { splitText } from '../../src/channels/shared/split-text.js';

/** The text shown by a rendered body: the text message's text or the card's markdown. */
function shown(body: FeishuMessageBody): string {
  const content = JSON.parse(body.content) as { text?: string; body?: { elements: { content: string }[] } };
  return body.msg_type === 'text' ? content.text! : content.body!.elements[0]!.content;
}

/** The largest request a body can go out in: a long receive id and a full-length uuid. */
function worstCaseBytes(body: FeishuMessageBody): number {
  const uuid = 'u'.repeat(UUID_MAX_LENGTH);
  return Math.max(
    requestBodyBytes(createMessageBody(`oc_${'f'.repeat(60)}`, body, uuid)),
    requestBodyBytes(replyMessageBody(body, uuid, true)),
  );
}

const fenceCount = (text: string) => text.split('\n').filter((l) => /^```/.test(l)).length;

describe('encodedBytes', () => {
  it('equals the bytes the text adds to the request body, for escapes, CJK, emoji and lone surrogates', () => {
    const samples = ['plain', 'quote " and \\ backslash', 'line\nbreak\ttab\r', '\u0001\u001f control', '中文，标点。', 'emoji 👋🏽', 'lone \ud800 x \udc00', '\u2028\u2029', ''];
    for (const s of samples) {
      const actual = Buffer.byteLength(JSON.stringify(JSON.stringify(s)), 'utf8') - 2 * 3; // minus the two quote pairs
      expect(encodedBytes(s), JSON.stringify(s)).toBe(actual);
    }
    expect(encodedBytes('"')).toBe(4);
    expect(encodedBytes('\n')).toBe(3);
    expect(encodedBytes('é')).toBe(2);
  });
});

describe('choosing the message type', () => {
  it('sends markdown constructs as a card and everything else as text', () => {
    const markdown = ['```js\nx\n```', '# Title', '- item', '1. first', '> quoted', '| a | b |\n|---|---|\n| 1 | 2 |', 'see [docs](https://x.y)', 'a **bold** move', 'run `ls`'];
    for (const text of markdown) expect(looksLikeMarkdown(text), text).toBe(true);
    const plain = ['Hello there!', '2 * 3 * 4 = 24', 'snake_case_name and __init__ly', 'price: $5 - $7', '#hashtag', '你好，世界'];
    for (const text of plain) expect(looksLikeMarkdown(text), text).toBe(false);
    expect(chooseMsgType('# Title', 'markdown')).toBe('interactive');
    expect(chooseMsgType('# Title', 'text')).toBe('text');
    expect(chooseMsgType('Hello', 'markdown')).toBe('text');
  });

  it('renders exact bodies: a text message and a JSON 2.0 card with one markdown element', () => {
    expect(renderMessages('hello "world"', 'markdown')).toEqual([{ msg_type: 'text', content: '{"text":"hello \\"world\\""}' }]);
    expect(renderMessages('# Title\n\n- a\n- b', 'markdown')).toEqual([
      { msg_type: 'interactive', content: '{"schema":"2.0","config":{"width_mode":"fill"},"body":{"elements":[{"tag":"markdown","content":"# Title\\n\\n- a\\n- b"}]}}', markdown: '# Title\n\n- a\n- b' },
    ]);
    expect(JSON.parse(cardContent('x'))).toEqual({ schema: '2.0', config: { width_mode: 'fill' }, body: { elements: [{ tag: 'markdown', content: 'x' }] } });
    expect(renderMessages('  \n ', 'text')).toEqual([]);
  });
});

describe('splitting at the platform limits', () => {
  it('keeps a long text reply in as few text messages as fit 150 KB each, losing nothing', () => {
    const paragraph = Array.from({ length: 20 }, () => 'The quick brown fox jumps over the lazy dog.').join(' ');
    const text = Array.from({ length: 400 }, () => paragraph).join('\n\n'); // ~360 KB
    const bodies = renderMessages(text, 'text');
    expect(bodies.length).toBe(3);
    for (const body of bodies) {
      expect(body.msg_type).toBe('text');
      expect(worstCaseBytes(body)).toBeLessThanOrEqual(BODY_LIMIT_BYTES.text);
    }
    expect(bodies.map(shown).join('\n\n')).toBe(text);
  });

  it('measures the encoded body, not the text: quote-heavy markdown is split well below 30 KB of text', () => {
    const line = '- "a" "b" \\ "c" "d"\n';
    const text = line.repeat(1_400); // 29 KB of text, 71 KB once encoded twice
    expect(Buffer.byteLength(text)).toBeLessThan(BODY_LIMIT_BYTES.interactive);
    const bodies = renderMessages(text, 'markdown');
    expect(encodedBytes(text)).toBeGreaterThan(2 * BODY_LIMIT_BYTES.interactive);
    expect(bodies.length).toBe(3);
    for (const body of bodies) {
      expect(body.msg_type).toBe('interactive');
      expect(worstCaseBytes(body)).toBeLessThanOrEqual(BODY_LIMIT_BYTES.interactive);
    }
    expect(bodies.map(shown).join('\n')).toBe(text);
  });

  it('never breaks a fenced code block: each card closes it and the next reopens it with the same language', () => {
    const code = Array.from({ length: 1_500 }, (_, i) => `    result_${i} = compute("value", ${i})  # step ${i}`);
    const text = `Here is the script:\n\n\`\`\`python\n${code.join('\n')}\n\`\`\`\n\nRun it with **python3**.`;
    const bodies = renderMessages(text, 'markdown');
    expect(bodies.length).toBeGreaterThanOrEqual(3);
    const parts = bodies.map(shown);
    for (const [i, part] of parts.entries()) {
      expect(worstCaseBytes(bodies[i]!)).toBeLessThanOrEqual(BODY_LIMIT_BYTES.interactive);
      expect(fenceCount(part) % 2, `part ${i} has balanced fences`).toBe(0);
      if (i > 0 && i < parts.length - 1) expect(part.startsWith('```python\n')).toBe(true);
    }
    // The code survives whole, indentation included.
    const codeLines = parts.flatMap((p) => p.split('\n')).filter((l) => l.startsWith('    result_'));
    expect(codeLines).toEqual(code);
    expect(parts.at(-1)!.endsWith('Run it with **python3**.')).toBe(true);
  });

  it('is deterministic, so a retry sends identical bodies', () => {
    const text = `# Log\n\n\`\`\`\n${'line of output\n'.repeat(5_000)}\`\`\``;
    expect(renderMessages(text, 'markdown')).toEqual(renderMessages(text, 'markdown'));
  });
});

describe('splitText with fences (shared helper)', () => {
  const text = 'Intro paragraph here.\n\n```js\nconst a = 1;\nconst b = 2;\n  const c = 3;\nconst d = 4;\n```\nEnd of it.';

  it('closes and reopens the block, keeping indentation', () => {
    expect(splitText(text, 40, { fences: true })).toEqual([
      'Intro paragraph here.',
      '```js\nconst a = 1;\nconst b = 2;\n```',
      '```js\n  const c = 3;\nconst d = 4;\n```',
      'End of it.',
    ]);
    expect(splitText(text, 30, { fences: true })).toEqual([
      'Intro paragraph here.',
      '```js\nconst a = 1;\n```',
      '```js\nconst b = 2;\n```',
      '```js\n  const c = 3;\n```',
      '```js\nconst d = 4;\n```',
      'End of it.',
    ]);
  });

  it('without the option behaves as before (the block is cut open)', () => {
    expect(splitText(text, 40)).toEqual(['Intro paragraph here.', '```js\nconst a = 1;\nconst b = 2;', 'const c = 3;\nconst d = 4;\n```\nEnd of it.']);
    expect(splitText('short', 40, { fences: true })).toEqual(['short']);
  });

  it('cuts inside a line only when one line does not fit, and still closes the block', () => {
    expect(splitText(`~~~\n${'x'.repeat(30)}\n~~~`, 16, { fences: true })).toEqual(['~~~\nxxxxxxxx\n~~~', '~~~\nxxxxxxxx\n~~~', '~~~\nxxxxxxxx\n~~~', '~~~\nxxxxxx\n~~~']);
  });

  it('honours a custom measure', () => {
    expect(splitText('aaaa\nbbbb\ncccc', 20)).toEqual(['aaaa\nbbbb\ncccc']);
    expect(splitText('aaaa\nbbbb\ncccc', 20, { measure: (s) => s.length * 2 })).toEqual(['aaaa\nbbbb', 'cccc']);
  });
});

describe('splitText with tables (shared helper)', () => {
  const text = 'Totals:\n\n| Item | Qty |\n|---|---|\n| apples | 1 |\n| pears | 2 |\n| plums | 3 |\n| figs | 4 |\n\nDone.';

  it('starts each chunk cut out of a table with its header and delimiter rows again', () => {
    expect(splitText(text, 60, { tables: true })).toEqual([
      'Totals:\n\n| Item | Qty |\n|---|---|\n| apples | 1 |',
      '| Item | Qty |\n|---|---|\n| pears | 2 |\n| plums | 3 |',
      '| Item | Qty |\n|---|---|\n| figs | 4 |\n\nDone.',
    ]);
    // Without the option the rows after the cut lose their header and show as raw pipes.
    expect(splitText(text, 60)[1]).toBe('| pears | 2 |\n| plums | 3 |\n| figs | 4 |\n\nDone.');
  });

  it('moves a header cut from its rows to the next chunk, and repeats nothing that would crowd out the rows', () => {
    expect(splitText(text, 40, { tables: true })).toEqual(['Totals:', '| Item | Qty |\n|---|---|\n| apples | 1 |', '| pears | 2 |\n| plums | 3 |', '| figs | 4 |\n\nDone.']);
    // A budget below one header and one row still ends, every row once.
    const tiny = splitText(text, 20, { tables: true });
    expect(tiny.join('\n').match(/\| \w+ \| \d \|/g)).toEqual(['| apples | 1 |', '| pears | 2 |', '| plums | 3 |', '| figs | 4 |']);
  });
});

describe('chunkUuid', () => {
  it('is a stable 40-hex hash of key and index, within the 50-character limit', () => {
    const expected = createHash('sha256').update('42:0\n1').digest('hex').slice(0, 40);
    expect(chunkUuid('42:0', 1)).toBe(expected);
    expect(chunkUuid('42:0', 1)).toBe('b649a4f78b2e2fb1c20ff7ce42f05a4304c397ca');
    expect(chunkUuid('42:0', 1).length).toBeLessThanOrEqual(UUID_MAX_LENGTH);
    expect(new Set([chunkUuid('42:0', 0), chunkUuid('42:0', 1), chunkUuid('42:1', 0), chunkUuid('42:10', 0)]).size).toBe(4);
  });
});
