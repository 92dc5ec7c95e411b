/**
 * The panel's only way to the gateway: the admin API under /api/admin, authenticated by the
 * HttpOnly session cookie. Writes carry the session's CSRF token in `X-CSRF-Token`; the cookie
 * alone never authorises a write.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field the error is about, e.g. "config.app_id" (dotted path). */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Fired on window when the session is gone (401): the app shows the login page. */
export const UNAUTHORIZED_EVENT = 'cococat:unauthorized';

let csrfToken: string | undefined;

export interface Session {
  csrfToken: string;
  expiresAt: number;
  /** An operator reads and answers people; changing agents, scenes and entries needs the admin. */
  role: 'admin' | 'operator';
  /** An operator's permissions (their `can`); every one when absent. */
  can?: ('reply' | 'handoff' | 'pairing' | 'senders' | 'retry' | 'chat')[];
}

async function request<T>(method: string, url: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    if (res.status === 401 && url.startsWith('/api/admin')) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    throw new ApiError(res.status, error?.code ?? 'COCO_ERR_HTTP', error?.message ?? `${res.status} ${res.statusText}`, error?.field);
  }
  return json as T;
}

/** Calls `/api/admin{path}`. */
export function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  return request<T>(method, `/api/admin${path}`, body, headers);
}

export const session = {
  async login(token: string): Promise<Session> {
    const s = await request<Session>('POST', '/api/session', { token });
    csrfToken = s.csrfToken;
    return s;
  },
  /** The current session, or undefined when not logged in. */
  async current(): Promise<Session | undefined> {
    try {
      const s = await request<Session>('GET', '/api/session');
      csrfToken = s.csrfToken;
      return s;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return undefined;
      throw err;
    }
  },
  async logout(): Promise<void> {
    await request<void>('DELETE', '/api/session');
    csrfToken = undefined;
  },
};

/**
 * Listens to a Server-Sent Events stream of the admin API (`/api/admin{path}`); the cookie goes
 * along. EventSource reconnects by itself; returns a function that closes the stream.
 */
export function subscribe(path: string, handlers: Record<string, (data: any) => void>, onState?: (open: boolean) => void): () => void {
  const source = new EventSource(`/api/admin${path}`, { withCredentials: true });
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => handler(JSON.parse((e as MessageEvent<string>).data)));
  }
  source.onopen = () => onState?.(true);
  source.onerror = () => onState?.(false);
  return () => source.close();
}
