import { describe, expect, it } from 'vitest';
import { describeContent } from '../../src/channels/feishu/parse.js';
import { MAX_QUOTE_CHARS, quoteBlock, withQuote } from '../../src/core/quote.js';

describe('quoteBlock and withQuote', () => {
  it('puts the quote under the text as a markdown quote block, blank lines kept as ">"', () => {
    expect(withQuote('translate this', quoteBlock('Line one\n\nLine two'))).toBe('translate this\n\n> Line one\n>\n> Line two');
    expect(withQuote('', quoteBlock('only the quote'))).toBe('> only the quote');
    expect(quoteBlock('  \n ')).toBe('');
    expect(withQuote('just text', '')).toBe('just text');
  });

  it('cuts a long quote to MAX_QUOTE_CHARS characters, counting emoji as one', () => {
    const text = quoteBlock('😀'.repeat(MAX_QUOTE_CHARS + 50)).slice('> '.length);
    expect([...text]).toHaveLength(MAX_QUOTE_CHARS);
    expect(text.endsWith('😀…')).toBe(true);
  });
});

describe('describeContent (a Feishu message read back from the API)', () => {
  it('reads text with its mentions named, and rich text flattened', () => {
    expect(describeContent('text', JSON.stringify({ text: '@_user_1 can you check?' }), [{ key: '@_user_1', name: 'Tom', isBot: false }])).toBe('@Tom can you check?');
    const post = { zh_cn: { title: 'Report', content: [[{ tag: 'text', text: 'Sales up ' }, { tag: 'a', text: 'details', href: 'https://x.example/r' }]] } };
    expect(describeContent('post', JSON.stringify(post), [])).toBe('Report\nSales up details (https://x.example/r)');
  });

  it('reads a card\'s words: JSON 2.0, JSON 1.0 with a header, and the flattened stub', () => {
    const v2 = { schema: '2.0', body: { elements: [{ tag: 'markdown', content: '**Total**: 3' }, { tag: 'column_set', columns: [{ elements: [{ tag: 'div', text: { tag: 'plain_text', content: 'left' } }] }] }] } };
    expect(describeContent('interactive', JSON.stringify(v2), [])).toBe('**Total**: 3\nleft');
    const v1 = { header: { title: { tag: 'plain_text', content: 'Weekly' } }, elements: [{ tag: 'div', text: { tag: 'lark_md', content: 'All green' } }] };
    expect(describeContent('interactive', JSON.stringify(v1), [])).toBe('Weekly\nAll green');
    const stub = { title: 'Alert', elements: [[{ tag: 'text', text: 'Disk full' }, { tag: 'a', text: 'runbook', href: 'https://x' }]] };
    expect(describeContent('interactive', JSON.stringify(stub), [])).toBe('Alert\nDisk full\nrunbook');
    expect(describeContent('interactive', '{}', [])).toBe('[card]');
  });

  it('describes media and unknown kinds, and never throws on content that is not what its type says', () => {
    expect(describeContent('file', JSON.stringify({ file_key: 'k', file_name: 'q3.xlsx' }), [])).toBe('[file: q3.xlsx]');
    expect(describeContent('share_chat', JSON.stringify({ chat_id: 'oc_1' }), [])).toBe('[share_chat message]');
    expect(describeContent('text', 'not json', [])).toBe('[text message]');
    expect(describeContent('text', JSON.stringify({ nope: 1 }), [])).toBe('[text message]');
  });
});
