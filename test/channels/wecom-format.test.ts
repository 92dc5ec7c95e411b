import { describe, expect, it } from 'vitest';
import {
  chooseMsgType,
  looksLikeWecomMarkdown,
  messageSendBody,
  renderMessages,
  TEXT_LIMIT_BYTES,
  toPlainText,
  toWecomMarkdown,
  type WecomMessage,
} from '../../src/channels/wecom/format.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const contents = (messages: WecomMessage[]) => messages.map((m) => m.content);
const text = (t: string) => renderMessages(t, 'text', { markdown: true });
const markdown = (t: string, enabled = true) => renderMessages(t, 'markdown', { markdown: enabled });

describe('wecom: choosing text or markdown', () => {
  it('sends markup WeCom renders as markdown, and everything else as text', () => {
    for (const t of ['# 标题', 'a **bold** move', 'see [docs](https://x.y)', '> quoted', 'run `ls`', '<font color="warning">注意</font>']) {
      expect(looksLikeWecomMarkdown(t), t).toBe(true);
      expect(chooseMsgType(t, 'markdown', true), t).toBe('markdown');
    }
    // Lists, tables and italics alone are not rendered by WeCom: nothing gained over text.
    for (const t of ['- a\n- b', '| a | b |\n|---|---|', 'an *italic* word', '2 * 3 * 4 = 24', 'snake_case_name', '#hashtag', '你好，世界']) {
      expect(looksLikeWecomMarkdown(t), t).toBe(false);
      expect(chooseMsgType(t, 'markdown', true), t).toBe('text');
    }
    expect(chooseMsgType('# Title', 'text', true)).toBe('text');
    expect(chooseMsgType('# Title', 'markdown', false)).toBe('text');
    // A fenced block has no WeCom rendering, and its lines would be read as markup.
    expect(chooseMsgType('# Run\n\n```py\n# a comment\nprint(1)\n```', 'markdown', true)).toBe('text');
  });

  it('converts to the WeCom subset: keeps headings, bold, links, quotes, inline code and font; converts the rest', () => {
    const md = [
      '# Title #',
      '',
      'Some **bold**, *italic*, __under__, ~~gone~~ and `code *x*`.',
      '',
      '- one',
      '* two',
      '',
      '| a | b |',
      '|---|:-:|',
      '| **1** | 2 |',
      '',
      '![chart](https://i.example/c.png) ![](https://i.example/d.png)',
      '',
      '---',
      '> quote *it*',
      '<font color="info">ok</font>',
      '2 * 3 * 4 snake_case_name',
    ].join('\n');
    expect(toWecomMarkdown(md)).toBe(
      [
        '# Title',
        '',
        'Some **bold**, italic, **under**, gone and `code *x*`.',
        '',
        '• one',
        '• two',
        '',
        'a  |  b',
        '**1**  |  2',
        '',
        '[chart](https://i.example/c.png) https://i.example/d.png',
        '',
        '> quote it',
        '<font color="info">ok</font>',
        '2 * 3 * 4 snake_case_name',
      ].join('\n'),
    );
    expect(markdown(md)).toEqual([{ msgtype: 'markdown', content: toWecomMarkdown(md) }]);
  });

  it('sends plain text, without markup or font tags, when markdown is off or the reply has a code block', () => {
    expect(markdown('# Title\n\n**bold** <font color="comment">grey</font> [docs](https://x.y)', false)).toEqual([
      { msgtype: 'text', content: 'Title\n\nbold grey docs (https://x.y)' },
    ]);
    expect(markdown('## Run\n\n```bash\n# install\nnpm i\n```')).toEqual([{ msgtype: 'text', content: 'Run\n\n# install\nnpm i' }]);
    expect(toPlainText('| a | b |\n|-|-|\n| 1 | 2 |')).toBe('a  |  b\n1  |  2');
  });

  it('keeps a text reply exactly as written, and sends nothing for whitespace', () => {
    expect(text('**not markdown here** # x')).toEqual([{ msgtype: 'text', content: '**not markdown here** # x' }]);
    expect(text(' \n\t ')).toEqual([]);
    expect(markdown('\n\n')).toEqual([]);
  });
});

describe('wecom: splitting at 2048 bytes', () => {
  it('cuts at the paragraph boundary: exact chunks, rejoined they are the input', () => {
    const p = (c: string) => `${c.repeat(999)}.`;
    const input = [p('a'), p('b'), p('c')].join('\n\n'); // 3004 bytes
    const out = contents(text(input));
    expect(out).toEqual([`${p('a')}\n\n${p('b')}`, p('c')]);
    expect(out.join('\n\n')).toBe(input);
  });

  it('cuts a long Chinese paragraph after a full stop, never inside a sentence', () => {
    const sentence = '这是一个完整的句子。'; // 30 bytes
    const input = sentence.repeat(100); // 3000 bytes, no line breaks
    const out = contents(text(input));
    // 2048 bytes hold 682 characters; the last sentence end within them is after 68 sentences (2040 bytes).
    expect(out).toEqual([sentence.repeat(68), sentence.repeat(32)]);
    expect(out.join('')).toBe(input);
  });

  it('cuts English after ". " and mixed text after ！ and ？', () => {
    const sentences = Array.from({ length: 120 }, (_, i) => `This is sentence ${String(i).padStart(3, '0')}.`); // 21 chars each
    const input = sentences.join(' ');
    const out = contents(text(input));
    // Sentence k (1-based) ends at 22k - 1; the last end within 2048 is k = 93.
    expect(out).toEqual([sentences.slice(0, 93).join(' '), sentences.slice(93).join(' ')]);
    const mixed = `${'好'.repeat(600)}！${'x'.repeat(100)}？${'y'.repeat(400)}`;
    expect(contents(text(mixed))).toEqual([`${'好'.repeat(600)}！${'x'.repeat(100)}？`, 'y'.repeat(400)]);
  });

  it('never splits a character: CJK and 4-byte emoji without any boundary', () => {
    expect(contents(text('中'.repeat(1000)))).toEqual(['中'.repeat(682), '中'.repeat(318)]);
    expect(contents(text('😀'.repeat(600)))).toEqual(['😀'.repeat(512), '😀'.repeat(88)]);
  });

  it('sends a 6000-byte reply complete, as ordered chunks of at most 2048 bytes, deterministically', () => {
    const zh = '企业微信的应用消息最长两千零四十八个字节。超过的部分会被平台直接截断，而且不会报错！';
    const en = 'WeCom cuts app messages over 2048 bytes. It does so silently! So the gateway splits first.';
    const input = Array.from({ length: 18 }, (_, i) => `${i}. ${zh} ${en} ${zh}`).join('\n\n');
    expect(bytes(input)).toBeGreaterThan(6_000);
    for (const format of ['text', 'markdown'] as const) {
      const out = renderMessages(input, format, { markdown: true });
      expect(out.length).toBe(4);
      for (const m of out) {
        expect(bytes(m.content)).toBeLessThanOrEqual(TEXT_LIMIT_BYTES);
        expect(m.msgtype).toBe('text');
      }
      expect(contents(out).join('\n\n')).toBe(input);
      expect(renderMessages(input, format, { markdown: true })).toEqual(out);
    }
  });

  it('splits converted markdown, each chunk a markdown message within the limit', () => {
    const section = (i: number) => `## 第${i}节\n\n${'**要点**：这里是一段说明文字。'.repeat(20)}`;
    const input = Array.from({ length: 6 }, (_, i) => section(i)).join('\n\n');
    const out = markdown(input);
    expect(out.length).toBeGreaterThan(1);
    for (const m of out) {
      expect(m.msgtype).toBe('markdown');
      expect(bytes(m.content)).toBeLessThanOrEqual(TEXT_LIMIT_BYTES);
      expect(m.content.startsWith('## 第')).toBe(true); // every cut fell on a section boundary
    }
    expect(contents(out).join('\n\n')).toBe(input);
  });
});

describe('wecom: message/send bodies', () => {
  it('builds exact text and markdown bodies', () => {
    expect(JSON.stringify(messageSendBody('zhangsan', 1000002, { msgtype: 'text', content: '你好 "x"' }))).toBe(
      '{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"你好 \\"x\\""},"safe":0,"enable_duplicate_check":0}',
    );
    expect(messageSendBody('LiSi', 1000002, { msgtype: 'markdown', content: '**x**' })).toEqual({
      touser: 'LiSi',
      msgtype: 'markdown',
      agentid: 1000002,
      markdown: { content: '**x**' },
      safe: 0,
      enable_duplicate_check: 0,
    });
  });

  it('refuses recipients that would reach more than the member who asked', () => {
    for (const to of ['@all', 'a|b', '', 'a b']) {
      expect(() => messageSendBody(to, 1, { msgtype: 'text', content: 'x' }), to).toThrow(/touser/);
    }
  });
});
