import { cpus, totalmem } from 'node:os';

/** Settings shared by every scenario of one run. */
export interface BenchOptions {
  quick: boolean;
  /** Run the gateway from src/ through tsx instead of dist/ (figures then include tsx overhead). */
  source: boolean;
  /** Overrides the length of a measured phase (the paired rounds use shorter ones). */
  phaseSeconds?: number;
  /** Overrides how many paired rounds run (`--rounds N`). */
  rounds?: number;
}

/** Length of a measured phase in seconds. */
export function phaseSeconds(opts: BenchOptions): number {
  return opts.phaseSeconds ?? (opts.quick ? 3 : 30);
}

/**
 * The scenarios compared with each other (c, a, g) run in rounds, each round measuring them back
 * to back: a ratio is taken per round and the median reported, since this VM's speed swings by
 * half within a minute and a single pair of long phases catches one side in a slow spell.
 */
export function pairedRounds(opts: BenchOptions): { rounds: number; seconds: number } {
  return { rounds: opts.rounds ?? (opts.quick ? 1 : 5), seconds: opts.quick ? 3 : 10 };
}

/** Warm-up before a measured phase (JIT, SQLite page cache), excluded from the figures. */
export function warmupSeconds(opts: BenchOptions): number {
  return opts.quick ? 1 : 3;
}

/** Connections of every autocannon phase, so the baseline comparison is like for like. */
export const CONNECTIONS = 50;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil(check: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(stepMs);
  }
  return check();
}

export function machineInfo() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}
