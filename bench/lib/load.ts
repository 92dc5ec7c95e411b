import autocannon, { type Request } from 'autocannon';
import { CONNECTIONS, round } from './common.js';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /**
   * Every `[<id>]` in the body is replaced by a number unique to each request. (Not autocannon's
   * own `idReplacement`: in autocannon 8 it announces a Content-Length of 27 bytes per id while
   * the ids it inserts are shorter, so the server waits for bytes that never come.)
   */
  body?: string;
  /** Instead of `body`: builds request number n (its path, body and, if signed per request, headers), for signed platform webhooks. */
  generate?: (n: number) => { path: string; body: string; headers?: Record<string, string> };
  connections?: number;
  seconds: number;
  warmupSeconds: number;
  /** The status that counts as success (202 for ingress, 200 otherwise). */
  okStatus: number;
}

export interface LoadFigures {
  seconds: number;
  connections: number;
  /** Answers with `okStatus` per second over the measured phase. */
  okPerSec: number;
  okCount: number;
  /** All answers per second. */
  reqPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  non2xx: number;
  /** Answers that were 2xx but not `okStatus` (e.g. 202 "pending" on ?wait=true). */
  otherStatus: Record<string, number>;
  errors: number;
  timeouts: number;
}

/** A short un-measured warm-up, then the measured autocannon phase. */
export async function runLoad(spec: LoadSpec): Promise<LoadFigures> {
  let counter = 0;
  const template = spec.body;
  const dynamic = template?.includes('[<id>]') ?? false;
  const base = {
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers,
    body: template,
    connections: spec.connections ?? CONNECTIONS,
    timeout: 30,
    ...(spec.generate
      ? { requests: [{ setupRequest: (req: Request) => ({ ...req, ...spec.generate!(++counter) }) }] }
      : dynamic && template !== undefined
        ? { requests: [{ setupRequest: (req: Request) => ({ ...req, body: template.replaceAll('[<id>]', String(++counter)) }) }] }
        : {}),
  };
  if (spec.warmupSeconds > 0) await autocannon({ ...base, duration: spec.warmupSeconds });
  const r = await autocannon({ ...base, duration: spec.seconds });
  const okCount = r.statusCodeStats[String(spec.okStatus)]?.count ?? 0;
  const otherStatus: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) if (code !== String(spec.okStatus)) otherStatus[code] = count;
  const total = Object.values(r.statusCodeStats).reduce((n, s) => n + s.count, 0);
  return {
    seconds: r.duration,
    connections: base.connections,
    okPerSec: round(okCount / r.duration, 0),
    okCount,
    reqPerSec: round(total / r.duration, 0),
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    latencyMaxMs: r.latency.max,
    non2xx: r.non2xx,
    otherStatus,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}
