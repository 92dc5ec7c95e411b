import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChannelRegistry } from '../src/channels/registry.js';

/** Architecture rules, checked by reading the sources: a new file cannot quietly break them. */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Repo-relative, forward slashes: "src/core/heartbeat.ts". */
const rel = (path: string) => relative(ROOT, path).split(sep).join('/');

/** Every module specifier of static imports/exports (type-only included) and dynamic import(). */
function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gms, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** Resolves a relative specifier ("./x.js") to the repo-relative .ts file; undefined for packages. */
function resolveImport(fromFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = resolve(dirname(fromFile), specifier);
  for (const candidate of [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, join(target, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return rel(candidate);
  }
  return rel(target);
}

const files = tsFiles(SRC).filter((f) => !f.endsWith('.test.ts'));
const graph = new Map<string, string[]>(
  files.map((f) => [
    rel(f),
    importSpecifiers(readFileSync(f, 'utf8'))
      .map((s) => resolveImport(f, s))
      .filter((t): t is string => t !== undefined),
  ]),
);
const channelFolders = readdirSync(join(SRC, 'channels')).filter(
  (name) => name !== 'shared' && statSync(join(SRC, 'channels', name)).isDirectory(),
);
const importsOf = (prefix: string) =>
  [...graph].filter(([file]) => file.startsWith(prefix)).flatMap(([file, targets]) => targets.map((target) => ({ file, target })));

/** Depth-first search; every back edge is one cycle, listed from where it closes. */
function findCycles(edges: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'active') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next) && edges.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('architecture boundaries', () => {
  it('parses the import forms the sources use', () => {
    const sample = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      'import {\n  c,\n  d,\n} from "./c.js";',
      "export { e } from './e.js';",
      "import './side-effect.js';",
      "const f = await import('./f.js');",
    ].join('\n');
    expect(importSpecifiers(sample)).toEqual(expect.arrayContaining(['./a.js', '../b.js', './c.js', './e.js', './side-effect.js', './f.js']));
    expect(graph.get('src/core/heartbeat.ts')).toContain('src/channels/define.ts');
    expect(channelFolders).toContain('web-api');
  });

  it('src/core imports from src/channels only define.ts, registry.ts and shared/', () => {
    const allowed = /^src\/channels\/(define\.ts|registry\.ts|shared\/[^/]+\.ts)$/;
    const bad = importsOf('src/core/').filter(({ target }) => target.startsWith('src/channels/') && !allowed.test(target));
    expect(bad).toEqual([]);
  });

  it('a channel folder imports no other channel folder, and nothing from store, agents or server', () => {
    const bad = channelFolders.flatMap((folder) =>
      importsOf(`src/channels/${folder}/`).filter(({ target }) => {
        const other = /^src\/channels\/([^/]+)\//.exec(target)?.[1];
        return (other !== undefined && other !== folder && other !== 'shared') || /^src\/(store|agents|server)\//.test(target);
      }),
    );
    expect(bad).toEqual([]);
  });

  it('the example channel keeps the same rules', () => {
    const dir = join(ROOT, 'examples', 'relay-channel');
    const bad = tsFiles(dir).flatMap((f) =>
      importSpecifiers(readFileSync(f, 'utf8'))
        .map((s) => ({ file: rel(f), target: resolveImport(f, s) }))
        .filter(({ target }) => target !== undefined && /^src\/(store|agents|server|channels\/(?!define\.ts|shared\/))/.test(target)),
    );
    expect(bad).toEqual([]);
  });

  it('src/store imports no channel and no agent', () => {
    const bad = importsOf('src/store/').filter(({ target }) => /^src\/(channels|agents)\//.test(target));
    expect(bad).toEqual([]);
  });

  it.each(channelFolders)('src/channels/%s/index.ts exports a defineChannel declaration registered under its folder name', async (folder) => {
    const index = join(SRC, 'channels', folder, 'index.ts');
    expect(existsSync(index), `${rel(index)} is missing`).toBe(true);
    expect(readFileSync(index, 'utf8')).toMatch(/export const \w+ = defineChannel\(/);
    const mod = (await import(pathToFileURL(index).href)) as Record<string, unknown>;
    const definitions = Object.values(mod).filter(
      (v): v is { type: string; create: unknown } => typeof v === 'object' && v !== null && 'configSchema' in v && typeof (v as { create?: unknown }).create === 'function',
    );
    expect(definitions).toHaveLength(1);
    const type = folder.replace(/-/g, '_');
    expect(definitions[0]!.type).toBe(type);
    expect(new ChannelRegistry().get(type)).toBe(definitions[0]);
  });

  it("loads no optional SDK when the CLI starts: openai, Feishu's, WeCom's and pg come in by import() when used", () => {
    // Static value imports only: what loading a module loads with it (`import type` and import() are not).
    const valueImports = (source: string) => [
      ...[...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]/gms)].map((m) => m[1]!),
      ...[...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
    ];
    const packages = new Set<string>();
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of valueImports(readFileSync(join(ROOT, file), 'utf8'))) {
        const target = resolveImport(join(ROOT, file), specifier);
        if (target === undefined) packages.add(specifier);
        else if (existsSync(join(ROOT, target))) visit(target);
      }
    };
    visit('src/cli/main.ts');
    expect(seen.size).toBeGreaterThan(50);
    expect(packages.has('fastify')).toBe(true);
    const optional = ['openai', '@larksuiteoapi/node-sdk', '@wecom/aibot-node-sdk', 'pg'];
    expect([...packages].filter((p) => optional.some((o) => p === o || p.startsWith(`${o}/`)))).toEqual([]);
  });

  it('process.env is read only in src/cli', () => {
    const readers = files.filter((f) => !rel(f).startsWith('src/cli/') && readFileSync(f, 'utf8').includes('process.env')).map(rel);
    expect(readers).toEqual([]);
  });

  it('src has no import cycles', () => {
    // The detector itself finds a planted cycle, so an empty answer means something.
    const planted = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(findCycles(planted)).toEqual([['a', 'b', 'c', 'a']]);
    expect(graph.size).toBeGreaterThan(20);
    expect(findCycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });
});
