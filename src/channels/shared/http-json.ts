/**
 * JSON over HTTP for platform API calls (send a reply, fetch a token), on one keep-alive pool per
 * process. undici's `request` costs about a quarter of the CPU of the global `fetch` per call
 * (no WHATWG streams, no AbortSignal per request), which matters when every reply is an API call.
 */
import { Agent, request } from 'undici';

const pool = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

export interface JsonAnswer {
  status: number;
  /** The parsed body; undefined when it was empty. */
  json: unknown;
}

/**
 * POSTs `body` as JSON and parses the answer. Throws on a network error, on no answer within
 * `timeoutMs` (headers, then each body chunk) and on a body that is not JSON; the HTTP status is
 * the caller's to judge.
 */
export async function postJson(url: string, body: unknown, opts: { timeoutMs: number; headers?: Record<string, string> }): Promise<JsonAnswer> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: JSON.stringify(body),
    dispatcher: pool,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const text = await res.body.text();
  if (text.trim() === '') return { status: res.statusCode, json: undefined };
  try {
    return { status: res.statusCode, json: JSON.parse(text) };
  } catch {
    throw new Error(`HTTP ${res.statusCode} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}
