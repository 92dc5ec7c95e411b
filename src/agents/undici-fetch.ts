/**
 * `fetch` for the agents' HTTP calls (the OpenAI SDK takes it as its `fetch` option; the http agent
 * calls it), on undici's `request` and the keep-alive pool the channels use. Node's global fetch
 * (WHATWG streams, a spec-complete Response) cost 0.1–0.3 ms more per call inside the gateway,
 * measured on the OpenAI path against a local fake (a tenth of the agent call, 5–12 % of a whole
 * turn). Bodies are read whole, except an event stream (a streamed completion), which is handed on
 * as it arrives. Request bodies are strings or bytes; anything else (a Request
 * object, a stream or form body) goes to the global fetch. Unlike the global fetch, redirects are not
 * followed (undici's redirect interceptor cost ~0.3 ms per call): an agent endpoint that answers 3xx
 * fails with that status, which names the problem.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { undici } from '../channels/shared/http-json.js';

/** Statuses whose Response must not have a body. */
const NULL_BODY = new Set([204, 205, 304]);

export async function undiciFetch(input: string | URL | globalThis.Request, init: RequestInit = {}): Promise<Response> {
  const body = init.body ?? undefined;
  if ((typeof input !== 'string' && !(input instanceof URL)) || (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array))) {
    return fetch(input, init);
  }
  const { request, pool } = await undici();
  const method = (init.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod;
  const res = await request(input, { method, headers: headerRecord(init.headers), body, signal: init.signal ?? undefined, dispatcher: pool });
  const empty = NULL_BODY.has(res.statusCode) || method === 'HEAD';
  const streamed = !empty && String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
  const bytes = empty ? null : streamed ? (Readable.toWeb(res.body) as ReadableStream<Uint8Array>) : await res.body.arrayBuffer();
  if (empty) await res.body.dump();
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return new Response(bytes, { status: res.statusCode, headers });
}

function headerRecord(headers: RequestInit['headers']): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  if (headers instanceof Headers || Array.isArray(headers)) return Object.fromEntries(headers);
  return headers as Record<string, string>;
}
