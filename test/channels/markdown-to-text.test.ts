import { describe, expect, it } from 'vitest';
import { markdownToText } from '../../src/channels/shared/markdown-to-text.js';

describe('markdownToText', () => {
  it('removes headings, emphasis, quotes and rules, and turns bullets into dots', () => {
    const md = '# Title\n\nSome **bold**, *italic*, __strong__ and ~~gone~~ text.\n\n> quoted line\n\n---\n\n- one\n- two\n  * nested';
    expect(markdownToText(md)).toBe('Title\n\nSome bold, italic, strong and gone text.\n\nquoted line\n\n• one\n• two\n  • nested');
  });

  it('keeps code blocks verbatim, including characters that look like markup', () => {
    const md = 'Run this:\n\n```bash\nexport MY_VAR=**x**\necho "# not a heading"\n```\n\nDone.';
    expect(markdownToText(md)).toBe('Run this:\n\nexport MY_VAR=**x**\necho "# not a heading"\n\nDone.');
  });

  it('keeps snake_case, file names and inline code intact', () => {
    expect(markdownToText('Set max_history_window in my_agent_profile.yaml, not `__init__`.')).toBe(
      'Set max_history_window in my_agent_profile.yaml, not __init__.',
    );
    expect(markdownToText('2 * 3 * 4 = 24 and a*b')).toBe('2 * 3 * 4 = 24 and a*b');
  });

  it('keeps link and image addresses', () => {
    expect(markdownToText('See [the docs](https://example.com/docs) or https://x.y')).toBe('See the docs (https://example.com/docs) or https://x.y');
    expect(markdownToText('[https://a.b](https://a.b)')).toBe('https://a.b');
    expect(markdownToText('![diagram](https://a.b/d.png)')).toBe('diagram (https://a.b/d.png)');
  });

  it('turns tables into aligned rows without the separator line', () => {
    expect(markdownToText('| name | price |\n|---|---:|\n| tea | 3 |')).toBe('name  |  price\ntea  |  3');
  });

  it('leaves plain text alone', () => {
    const text = '你好！今天天气不错。\nSecond line: 50% off, (maybe).';
    expect(markdownToText(text)).toBe(text);
  });
});
