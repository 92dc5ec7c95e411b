import { describe, expect, it } from 'vitest';
import { contentFilterSchema } from '../../src/config/schema.js';
import { filterAnswer, WordMatcher } from '../../src/core/content-filter.js';

describe('WordMatcher', () => {
  const m = new WordMatcher(['赌博', '赌博网站', 'Casino', 'bad word', '🎰']);

  it('finds words anywhere, leftmost first and as long as they go, Latin letters in any case', () => {
    const text = '这是赌博网站和赌博, CASINO nights, a BAD WORD, 🎰🎰';
    expect(m.find(text).map(([a, b]) => text.slice(a, b))).toEqual(['赌博网站', '赌博', 'CASINO', 'BAD WORD', '🎰', '🎰']);
    expect(m.find('casin0, bad  word, 赌 博')).toEqual([]);
  });

  it('masks each word with one * per character (an emoji is one), and counts them', () => {
    expect(m.mask('去赌博网站? casino! 🎰')).toEqual({ text: '去****? ******! *', hits: 3 });
    expect(m.mask('nothing here')).toEqual({ text: 'nothing here', hits: 0 });
  });

  it('with ignore_separators, finds words with spaces, punctuation, symbols or invisible characters put between their characters, and masks them whole', () => {
    const loose = new WordMatcher(['赌博', 'bad word', 'casino'], true);
    const text = '赌 博, 赌*博, 赌\u200b博, 赌。博, BAD-WORD, badword, c.a.s.i.n.o, ｃａｓｉｎｏ';
    expect(loose.find(text).map(([a, b]) => text.slice(a, b))).toEqual([
      '赌 博', '赌*博', '赌\u200b博', '赌。博', 'BAD-WORD', 'badword', 'c.a.s.i.n.o', 'ｃａｓｉｎｏ',
    ]);
    // Separators before a word or after it are not part of it; other letters between its characters still hide it.
    expect(loose.mask('(赌 博) and 赌x博')).toEqual({ text: '(***) and 赌x博', hits: 1 });
    // As written (the matcher's default, ignore_separators: false), only full-width forms fold.
    expect(new WordMatcher(['casino']).find('c.a.s.i.n.o ｃａｓｉｎｏ').map(([a, b]) => b - a)).toEqual([6]);
    // A word of separators alone is no word.
    expect(new WordMatcher(['...', '赌博'], true).find('... 赌博')).toEqual([[4, 6]]);
  });

  it('takes a list of 20 000 words and finds one in a long text', () => {
    const words = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}x`);
    const big = new WordMatcher(words);
    const text = `${'lorem ipsum '.repeat(2_000)}w7psx`; // 7ps in base 36 = 9 964
    expect(big.find(text)).toEqual([[text.length - 5, text.length]]);
  });
});

describe('filterAnswer', () => {
  it('ignores separators unless told not to', () => {
    expect(filterAnswer(contentFilterSchema.parse({ words: ['spoiler'] }), 'a s.p.o.i.l.e.r!')).toEqual({ text: 'a *************!', hits: 1 });
    expect(filterAnswer(contentFilterSchema.parse({ words: ['spoiler'], ignore_separators: false }), 'a s.p.o.i.l.e.r!').hits).toBe(0);
  });

  it('masks by default, replaces the whole answer with outgoing: replace, and leaves clean answers alone', () => {
    const masking = contentFilterSchema.parse({ words: ['spoiler'] });
    expect(filterAnswer(masking, 'A spoiler: he lives.')).toEqual({ text: 'A *******: he lives.', hits: 1 });
    const replacing = contentFilterSchema.parse({ words: ['spoiler'], outgoing: 'replace', reply: 'Let us not say.' });
    expect(filterAnswer(replacing, 'A SPOILER and a spoiler')).toEqual({ text: 'Let us not say.', hits: 2 });
    expect(filterAnswer(replacing, 'clean')).toEqual({ text: 'clean', hits: 0 });
    expect(filterAnswer(undefined, 'A spoiler')).toEqual({ text: 'A spoiler', hits: 0 });
  });
});
