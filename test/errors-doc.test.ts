import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../src/core/errors.js';

const ROOT = join(import.meta.dirname, '..');
const CODES = Object.keys(ErrorCodes);
const CODE = /\bCOCO_ERR_[A-Z0-9_]*[A-Z0-9]\b/g;

/** The codes of the table rows in docs/errors.md, in order, with their cells. */
function docRows(): { code: string; cells: string[] }[] {
  const text = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  const rows: { code: string; cells: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    const match = /^`?(COCO_ERR_[A-Z0-9_]+)`?$/.exec(cells[0] ?? '');
    if (match) rows.push({ code: match[1]!, cells });
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('docs/errors.md', () => {
  it('has the header | Code | Meaning | How to fix |', () => {
    const text = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    expect(text).toMatch(/^\| Code \| Meaning \| How to fix \|$/m);
  });

  it('lists every code of ErrorCodes, once each, in the same order, and nothing else', () => {
    const documented = docRows().map((r) => r.code);
    const missing = CODES.filter((c) => !documented.includes(c));
    const unknown = documented.filter((c) => !CODES.includes(c));
    expect(missing, 'codes missing from docs/errors.md').toEqual([]);
    expect(unknown, 'codes in docs/errors.md that ErrorCodes does not define').toEqual([]);
    expect(documented).toEqual(CODES);
  });

  it('gives every code a meaning and a concrete fix', () => {
    for (const { code, cells } of docRows()) {
      expect(cells, code).toHaveLength(3);
      expect(cells[1]!.length, `${code} meaning`).toBeGreaterThan(10);
      expect(cells[2]!.length, `${code} how to fix`).toBeGreaterThan(40);
    }
  });

  it('mentions no code outside the table that ErrorCodes does not define', () => {
    const text = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const mentioned = new Set(text.match(CODE) ?? []);
    expect([...mentioned].filter((c) => !CODES.includes(c))).toEqual([]);
  });
});

describe('source code', () => {
  it('uses only codes that ErrorCodes defines', () => {
    const files = sourceFiles(join(ROOT, 'src'));
    expect(files.length).toBeGreaterThan(10);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const path of files) {
      for (const code of readFileSync(path, 'utf8').match(CODE) ?? []) {
        used.add(code);
        if (!CODES.includes(code)) unknown.push(`${path.slice(ROOT.length + 1)}: ${code}`);
      }
    }
    expect(unknown).toEqual([]);
    // The scan itself works: codes raised in the source are found.
    expect(used.has('COCO_ERR_UNAUTHORIZED')).toBe(true);
    expect(used.has('COCO_ERR_CONFIG_ENV_MISSING')).toBe(true);
  });
});
