import type { Settings } from '../config/schema.js';

/** Where the running gateway listens, as `cococat start` on this workspace would: `--url` wins. */
export function gatewayBase(server: Settings['server'], env: Record<string, string | undefined>, url?: string): string {
  return url ?? `http://${server.host === '0.0.0.0' ? '127.0.0.1' : server.host}:${env.PORT ?? server.port}`;
}

export type AdminAnswer<T> = { status: number; body: T & { error?: { message: string } } };

export interface AdminClient {
  base: string;
  /** One admin API call (`path` under /api/admin); rejects only when the gateway cannot be reached. */
  call<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'DELETE', path: string): Promise<AdminAnswer<T>>;
  /** A GET whose answer is read as it comes (an export); rejects only when the gateway cannot be reached. */
  get(path: string): Promise<Response>;
}

/** The admin API of the running gateway, with the token from COCOCAT_ADMIN_TOKEN; a message when it is not set. */
export function adminClient(server: Settings['server'], env: Record<string, string | undefined>, url?: string): AdminClient | string {
  const token = env.COCOCAT_ADMIN_TOKEN;
  if (!token) return 'set COCOCAT_ADMIN_TOKEN to the gateway\'s admin token (printed at its first start)';
  const base = gatewayBase(server, env, url);
  return {
    base,
    async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string) {
      const res = await fetch(`${base}/api/admin${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as AdminAnswer<T>['body'] };
    },
    get: (path) => fetch(`${base}/api/admin${path}`, { headers: { authorization: `Bearer ${token}` } }),
  };
}

/** How the CLI says the gateway refused a request: its status and the reason it gave. */
export const refusal = (answer: { status: number; body: { error?: { message?: string } } }) =>
  `HTTP ${answer.status}: ${answer.body.error?.message ?? 'unexpected answer'}`;

export const unreachable = (base: string, err: unknown) => `cannot reach the gateway at ${base}: ${(err as Error).message}. Is "cococat start" running?`;
