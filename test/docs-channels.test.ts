import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Keeps docs/channels.md true to the code it quotes and the paths it names. */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const guide = readFileSync(join(ROOT, 'docs', 'channels.md'), 'utf8');

const tsBlocks = [...guide.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.replace(/\n$/, ''));
const trimEnds = (text: string) =>
  text
    .split('\n')
    .map((line) => line.replace(/\s+$/, ''))
    .join('\n');

/** Blocks whose first line is `// from <path>`: excerpts that must match that file. */
const excerpts = tsBlocks.flatMap((block) => {
  const [first, ...rest] = block.split('\n');
  const from = /^\/\/ from (\S+)$/.exec(first ?? '')?.[1];
  return from ? [{ from, body: rest.join('\n') }] : [];
});

describe('docs/channels.md', () => {
  it('quotes the relay example in several excerpts', () => {
    const files = new Set(excerpts.filter((e) => e.from.startsWith('examples/relay-channel/')).map((e) => e.from));
    expect(excerpts.filter((e) => e.from.startsWith('examples/relay-channel/')).length).toBeGreaterThanOrEqual(4);
    expect([...files].sort()).toEqual(['examples/relay-channel/channel.ts', 'examples/relay-channel/config.ts', 'examples/relay-channel/index.ts', 'examples/relay-channel/media.ts']);
  });

  it.each(excerpts.map((e, i) => [i + 1, e.from, e.body] as const))('excerpt %i appears verbatim in %s', (_i, from, body) => {
    const path = join(ROOT, from);
    expect(existsSync(path), `${from} does not exist`).toBe(true);
    expect(body.trim().length).toBeGreaterThan(0);
    expect(trimEnds(readFileSync(path, 'utf8'))).toContain(trimEnds(body));
  });

  it('names only repository paths that exist', () => {
    const paths = new Set(
      [...guide.matchAll(/(?<![\w./-])(?:src|test|examples|docs)\/[\w./-]*/g)].map((m) => m[0].replace(/[./]+$/, '')),
    );
    expect([...paths].filter((p) => p.startsWith('src/')).length).toBeGreaterThan(5);
    const missing = [...paths].filter((p) => !existsSync(join(ROOT, p)));
    expect(missing).toEqual([]);
  });

  it('shows the registry line in the shape of src/channels/registry.ts', () => {
    const real = readFileSync(join(ROOT, 'src', 'channels', 'registry.ts'), 'utf8');
    const shown = tsBlocks.find((b) => b.startsWith('// src/channels/registry.ts\n'));
    expect(shown, 'the guide shows a block starting "// src/channels/registry.ts"').toBeDefined();

    const list = /^const builtIn: ChannelDefinition\[\] = \[(.+)\];$/m;
    const realItems = list.exec(real)?.[1]?.split(',').map((s) => s.trim());
    const shownItems = list.exec(shown!)?.[1]?.split(',').map((s) => s.trim());
    expect(realItems, 'registry.ts declares builtIn on one line').toBeDefined();
    expect(shownItems).toBeDefined();
    // Same element form (e.g. "x as unknown as ChannelDefinition"), the real list first, one entry added.
    const form = (item: string) => item.replace(/^\w+/, 'X');
    expect(new Set(shownItems!.map(form))).toEqual(new Set(realItems!.map(form)));
    expect(shownItems!.slice(0, realItems!.length)).toEqual(realItems);
    expect(shownItems).toHaveLength(realItems!.length + 1);

    const channelImport = /^import \{ (\w+) \} from '\.\/([a-z0-9-]+)\/index\.js';$/gm;
    const realImports = [...real.matchAll(channelImport)].map((m) => m[1]);
    const shownImports = [...shown!.matchAll(channelImport)].map((m) => m[1]);
    expect(realItems!.map((i) => i.split(' ')[0]).every((name) => realImports.includes(name))).toBe(true);
    expect(shownImports).toEqual([shownItems!.at(-1)!.split(' ')[0]]);
  });
});
