import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import { buildServer } from '../../src/server/build-server.js';
import { makeWorkspace, removeWorkspace, TEST_API_KEY, type WorkspaceSpec } from './workspace.js';

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

/**
 * A clock that reads the time from `now` (a ManualClock, a fake platform's clock) and keeps real
 * timers: retry times are then read from the store and reached by moving `now`, not slept through.
 */
export function timeFrom(now: () => number): Clock {
  return { ...systemClock, now };
}

export interface TestGateway {
  root: string;
  gateway: Gateway;
  app: FastifyInstance;
  /** POST a chat message to a web_api entry through inject(). */
  chat(entryKey: string, body: unknown, opts?: { wait?: boolean; key?: string; headers?: Record<string, string> }): Promise<{ status: number; json: any }>;
  admin(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  /** Resolves when `predicate` holds, polling every 10 ms, or rejects after `timeoutMs`. */
  until<T>(predicate: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs?: number): Promise<T>;
  close(opts?: { keepWorkspace?: boolean }): Promise<void>;
}

/** Starts a gateway on a temp workspace (or a given one) with fast loops, without listening. */
export async function startTestGateway(
  spec: WorkspaceSpec | { root: string },
  options: Partial<GatewayOptions> = {},
): Promise<TestGateway> {
  const owned = !('root' in spec);
  const root = 'root' in spec ? spec.root : makeWorkspace(spec);
  let gateway: Gateway;
  let app: FastifyInstance;
  try {
    gateway = await Gateway.open({
      workspace: root,
      env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN },
      log: silentLogger(),
      tickMs: 50,
      ...options,
    });
    app = await buildServer(gateway, { logger: false });
    gateway.start({ watchIntervalMs: 0 });
    await app.ready();
  } catch (err) {
    if (owned) removeWorkspace(root); // no TestGateway comes back to close it
    throw err;
  }

  const until = async <T>(predicate: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await predicate();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  return {
    root,
    gateway,
    app,
    until,
    async chat(entryKey, body, opts = {}) {
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1/chat/${entryKey}${opts.wait ? '?wait=true' : ''}`,
        headers: { authorization: `Bearer ${opts.key ?? TEST_API_KEY}`, 'content-type': 'application/json', ...opts.headers },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, json: safeJson(res.body) };
    },
    async admin(method, url, body, headers = {}) {
      const res = await app.inject({
        method,
        url: `/api/admin${url}`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        payload: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.statusCode, json: safeJson(res.body) };
    },
    async close(opts = {}) {
      try {
        await app.close();
        await gateway.close();
      } finally {
        if (!opts.keepWorkspace && owned) removeWorkspace(root);
      }
    },
  };
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
