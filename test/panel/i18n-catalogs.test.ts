import { describe, expect, it } from 'vitest';
import { en, zh } from '../../panel/src/i18n/resources.js';

/**
 * The panel's two languages. The compiler already makes both catalogs hold the same keys
 * (`satisfies Catalog<typeof en>`); this checks what it cannot: that a translation keeps every
 * `{{placeholder}}` of its English text and adds none, so no figure or name goes missing in Chinese,
 * and that no Chinese text was left in English or empty.
 */

type Tree = { [key: string]: string | Tree };

function leaves(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') out.set(path, value);
    else for (const [k, v] of leaves(value, path)) out.set(k, v);
  }
  return out;
}

const placeholders = (text: string) => [...text.matchAll(/\{\{\s*([\w.]+)[^}]*\}\}/g)].map((m) => m[1]).sort();
// The tags <Trans> fills with elements (`<1>…</1>`, `<code>…</code>`) must survive translation too.
const tags = (text: string) => [...text.matchAll(/<\/?[a-z0-9]+\s*\/?>/gi)].map((m) => m[0]).sort();

const english = leaves(en as unknown as Tree);
const chinese = leaves(zh as unknown as Tree);

describe('panel catalogs', () => {
  it('have the same keys in both languages', () => {
    expect([...chinese.keys()].sort()).toEqual([...english.keys()].sort());
    expect(english.size).toBeGreaterThan(20);
  });

  it('keep every placeholder and tag of the English text in Chinese', () => {
    const drift: string[] = [];
    for (const [key, text] of english) {
      const other = chinese.get(key) ?? '';
      if (placeholders(other).join() !== placeholders(text).join()) drift.push(`${key}: ${JSON.stringify(placeholders(text))} → ${JSON.stringify(placeholders(other))}`);
      if (tags(other).join() !== tags(text).join()) drift.push(`${key}: tags ${tags(text).join('')} → ${tags(other).join('')}`);
    }
    expect(drift).toEqual([]);
  });

  it('translate every text that has words (names like "CocoCat" or "JSON" may stay)', () => {
    const untranslated = [...english]
      .filter(([key, text]) => {
        const other = chinese.get(key) ?? '';
        if (other.trim() === '') return true;
        // A text that is more than a name and has no Chinese in it was not translated.
        const words = text.replace(/\{\{[^}]*\}\}/g, '').match(/[A-Za-z]{3,}/g) ?? [];
        return words.length >= 2 && !/[\u4e00-\u9fff]/.test(other);
      })
      .map(([key]) => key);
    expect(untranslated).toEqual([]);
  });
});
