/**
 * Filtered words (`content_filter` in a profile): a platform account that sends prohibited words
 * can be restricted or banned (WeChat's and WeCom's operating rules), and a model cannot be relied
 * on to avoid them. A user's message containing one is not given to the agent; in an answer each one
 * is masked (or the whole answer replaced) before it is stored, streamed or sent.
 *
 * Words are matched literally, Latin letters in any case, with a trie: lists of thousands of
 * words (sensitive-word lists often are) cost one pass over the text, not one per word.
 */
import type { ContentFilter } from '../config/schema.js';

interface Node {
  next: Map<string, Node>;
  /** A word ends here. */
  end: boolean;
}

export class WordMatcher {
  private readonly root: Node = { next: new Map(), end: false };

  constructor(words: readonly string[]) {
    for (const word of words) {
      let node = this.root;
      for (const ch of word.toLowerCase()) {
        let child = node.next.get(ch);
        if (!child) node.next.set(ch, (child = { next: new Map(), end: false }));
        node = child;
      }
      node.end = true;
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
        const cp = text.codePointAt(j)!;
        const ch = String.fromCodePoint(cp);
        node = node.next.get(ch.toLowerCase()) ?? node.next.get(ch);
        j += ch.length;
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

/** One matcher per profile's word list, kept while the list is (a profile edit makes a new one). */
const matchers = new WeakMap<readonly string[], WordMatcher>();

export function matcherOf(filter: ContentFilter): WordMatcher {
  let matcher = matchers.get(filter.words);
  if (!matcher) matchers.set(filter.words, (matcher = new WordMatcher(filter.words)));
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
