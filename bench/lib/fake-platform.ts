import { join } from 'node:path';
import { makeWorkspace, removeWorkspace } from '../../test/helpers/workspace.js';
import { spawnUntilReady, startGateway, ROOT, type GatewayReady, type Ready } from './child.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './common.js';

/**
 * The shape the channel benchmarks share: a fake platform in its own child process
 * (`bench/servers/<server>`, ready once it prints one JSON line with its `control` URL), a workspace
 * whose agent "bench" (echo) has the entries made from what the fake printed, and the gateway on it.
 * `run` measures; everything is stopped and removed after it, whatever happens.
 */
export async function withFakePlatform<Info extends { control: string }, T>(
  opts: BenchOptions,
  server: string,
  entries: (fake: Info) => Record<string, unknown>[],
  run: (fake: Info, gateway: Ready<GatewayReady>) => Promise<T>,
): Promise<T> {
  const helper = await spawnUntilReady(['--import', 'tsx', join(ROOT, 'bench', 'servers', server)], {}, (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const json = JSON.parse(line) as Partial<Info>;
      return typeof json.control === 'string' ? (json as Info) : undefined;
    } catch {
      return undefined;
    }
  });
  const fake = helper.ready;
  const root = makeWorkspace({ agents: { bench: { profile: { provider: 'echo' }, entries: entries(fake) } } });
  try {
    const gw = await startGateway(root, { source: opts.source });
    try {
      return await run(fake, gw);
    } finally {
      await gw.stop();
    }
  } finally {
    await helper.stop();
    removeWorkspace(root);
  }
}

/** Has the fake drive one measured phase of pushes (`POST <control><path>`) and returns its figures. */
export async function pushPhase<F>(fake: { control: string }, path: string, opts: BenchOptions, load: { users: number; inflight: number }, name: string): Promise<F> {
  const res = await fetch(`${fake.control}${path}`, {
    method: 'POST',
    body: JSON.stringify({ seconds: phaseSeconds(opts), warmupSeconds: warmupSeconds(opts), ...load }),
  });
  if (!res.ok) throw new Error(`${name}: ${path.slice(1)} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as F;
}
