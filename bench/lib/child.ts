import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'cococat.js');
const SOURCE_ENTRY = join(ROOT, 'test', 'helpers', 'cli-entry.ts');
/** The node flags of bin/cococat.js's `#!/usr/bin/env -S node …` line: the gateway runs as users run it. */
const LAUNCHER_FLAGS = (readFileSync(BIN, 'utf8').split('\n')[0] ?? '').split(/\s+/).filter((w) => w.startsWith('--'));
const READY_TIMEOUT_MS = 20_000;

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Everything the child printed (capped), for error messages. */
  output(): string;
  /** Peak resident set (VmHWM) of the child in MB, from /proc; undefined where /proc is missing. */
  peakRssMb(): number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface Ready<T> extends Child {
  ready: T;
  /** ms from spawn() to the ready line. */
  spawnToReadyMs: number;
}

/**
 * Spawns `node ...args` and waits for a stdout line `parse` accepts. Output keeps being drained
 * (a full pipe would block the child) but only the first 64 KiB are kept.
 */
export async function spawnUntilReady<T>(
  args: string[],
  env: Record<string, string>,
  parse: (line: string) => T | undefined,
): Promise<Ready<T>> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    if (out.length < 65_536) out += d.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stop = (graceMs = 5_000) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  try {
    const ready = await new Promise<T>((resolve, reject) => {
      let pending = '';
      const timer = setTimeout(() => reject(new Error(`child not ready in ${READY_TIMEOUT_MS} ms:\n${out}`)), READY_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        pending += d.toString();
        let idx: number;
        while ((idx = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, idx);
          pending = pending.slice(idx + 1);
          const value = parse(line);
          if (value !== undefined) {
            clearTimeout(timer);
            child.stdout!.off('data', onData);
            child.off('exit', onExit);
            resolve(value);
            return;
          }
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        clearTimeout(timer);
        reject(new Error(`child exited (${code ?? signal}) before it was ready:\n${out}`));
      };
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', reject);
    });
    return {
      process: child,
      pid: child.pid!,
      ready,
      spawnToReadyMs: performance.now() - t0,
      output: () => out,
      peakRssMb: () => peakRssMb(child.pid!),
      stop,
    };
  } catch (err) {
    await stop(1_000);
    throw err;
  }
}

export interface GatewayReady {
  baseUrl: string;
  /** What the gateway itself logs as its start-up time. */
  readyMs: number | undefined;
}

/** `cococat start --workspace DIR --port 0` in a child process; resolves once it logs its address. */
export function startGateway(workspace: string, opts: { source: boolean; env?: Record<string, string> }): Promise<Ready<GatewayReady>> {
  // Extra node flags for the gateway only, e.g. BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/out/prof".
  const nodeArgs = [...LAUNCHER_FLAGS, ...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const args = opts.source
    ? [...nodeArgs, '--import', 'tsx', SOURCE_ENTRY, 'start', '--workspace', workspace, '--port', '0']
    : [...nodeArgs, BIN, 'start', '--workspace', workspace, '--port', '0'];
  return spawnUntilReady(args, { COCOCAT_LOG_FORMAT: 'json', COCOCAT_LOG_LEVEL: 'info', ...opts.env }, parseReadyLine);
}

function parseReadyLine(line: string): GatewayReady | undefined {
  if (!line.includes('"address"')) return undefined;
  try {
    const json = JSON.parse(line) as { address?: unknown; readyMs?: unknown };
    if (typeof json.address !== 'string') return undefined;
    return { baseUrl: json.address, readyMs: typeof json.readyMs === 'number' ? json.readyMs : undefined };
  } catch {
    return undefined;
  }
}

/** Runs a bench/ helper script (TypeScript, through tsx) that prints `{"url": ...}` when listening. */
export function startHelper(script: string, args: string[] = []): Promise<Ready<string>> {
  return spawnUntilReady(['--import', 'tsx', join(ROOT, 'bench', script), ...args], {}, (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const json = JSON.parse(line) as { url?: unknown };
      return typeof json.url === 'string' ? json.url : undefined;
    } catch {
      return undefined;
    }
  });
}

function peakRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

/** Whether dist/ is older than some file in src/ (then `npm run bench` would rebuild it first). */
export function distIsStale(): boolean {
  const marker = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(marker)) return true;
  const built = statSync(marker).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir).reduce((latest, name) => {
      const path = join(dir, name);
      const st = statSync(path);
      return Math.max(latest, st.isDirectory() ? newest(path) : st.mtimeMs);
    }, 0);
  return newest(join(ROOT, 'src')) > built;
}
