/**
 * Filtered words (`content_filter` in a profile): a platform account that sends prohibited words
 * can be restricted or banned (WeChat's and WeCom's operating rules), and a model cannot be relied
 * on to avoid them. A user's message containing one is not given to the agent; in an answer each one
 * is masked (or the whole answer replaced) before it is stored, streamed or sent.
 *
 * Words are matched with a trie: lists of thousands of words (sensitive-word lists often are) cost
 * one pass over the text, not one per word. Latin letters match in any case and full-width forms as
 * their plain ones (NFKC: `ＡＢＣ` as `abc`). With `ignore_separators` (the default), spaces,
 * punctuation, symbols and invisible characters between a word's characters do not hide it (`赌 博`,
 * `赌*博`, `赌\u200b博` all hold `赌博`), and are masked with it.
 */
import type { ContentFilter } from '../config/schema.js';

interface Node {
  next: Map<string, Node>;
  /** A word ends here. */
  end: boolean;
}

/** What may stand between a word's characters without hiding it. */
const SEPARATOR = /^[\s\p{P}\p{S}\p{Z}\p{Cf}]$/u;

/** A character as the trie holds it: NFKC (full-width as plain), lower case. ASCII needs only the case. */
function fold(ch: string): string {
  return ch.length === 1 && ch.charCodeAt(0) < 0x80 ? ch.toLowerCase() : ch.normalize('NFKC').toLowerCase();
}

export class WordMatcher {
  private readonly root: Node = { next: new Map(), end: false };

  constructor(
    words: readonly string[],
    private readonly ignoreSeparators = false,
  ) {
    for (const word of words) {
      let node = this.root;
      for (const raw of word) {
        if (ignoreSeparators && SEPARATOR.test(raw)) continue;
        for (const ch of fold(raw)) {
          let child = node.next.get(ch);
          if (!child) node.next.set(ch, (child = { next: new Map(), end: false }));
          node = child;
        }
      }
      // A word of separators only would match everywhere: it is left out.
      if (node !== this.root) node.end = true;
    }
  }

  /** The words in `text`, leftmost first and each as long as it can be, as [start, end) offsets. */
  find(text: string): [number, number][] {
    const found: [number, number][] = [];
    let i = 0;
    while (i < text.length) {
      let node: Node | undefined = this.root;
      let longest = -1;
      for (let j = i; j < text.length && node; ) {
        const ch = String.fromCodePoint(text.codePointAt(j)!);
        j += ch.length;
        // Between a word's characters (never before its first), separators are passed over.
        if (this.ignoreSeparators && node !== this.root && SEPARATOR.test(ch)) continue;
        for (const c of fold(ch)) node = node?.next.get(c);
        if (node?.end) longest = j;
      }
      if (longest > 0) {
        found.push([i, longest]);
        i = longest;
      } else {
        i += text.codePointAt(i)! > 0xffff ? 2 : 1;
      }
    }
    return found;
  }

  /** `text` with every word in it turned into as many `*` as it has characters, and how many there were. */
  mask(text: string): { text: string; hits: number } {
    const found = this.find(text);
    if (found.length === 0) return { text, hits: 0 };
    let out = '';
    let at = 0;
    for (const [start, end] of found) {
      out += text.slice(at, start) + '*'.repeat([...text.slice(start, end)].length);
      at = end;
    }
    return { text: out + text.slice(at), hits: found.length };
  }
}

/** One matcher per profile's filter, kept while the profile is (an edit makes a new one). */
const matchers = new WeakMap<ContentFilter, WordMatcher>();

export function matcherOf(filter: ContentFilter): WordMatcher {
  let matcher = matchers.get(filter);
  if (!matcher) matchers.set(filter, (matcher = new WordMatcher(filter.words, filter.ignore_separators)));
  return matcher;
}

/**
 * An answer as it may go out under the filter: masked, or replaced by the filter's reply (`outgoing`).
 * `hits` counts the words found; 0 leaves the text as it was.
 */
export function filterAnswer(filter: ContentFilter | undefined, text: string): { text: string; hits: number } {
  if (!filter) return { text, hits: 0 };
  const masked = matcherOf(filter).mask(text);
  if (masked.hits === 0 || filter.outgoing === 'mask') return masked;
  return { text: filter.reply, hits: masked.hits };
}
