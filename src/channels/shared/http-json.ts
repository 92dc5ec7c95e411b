/**
 * JSON over HTTP for platform API calls (send a reply, fetch a token), on one keep-alive pool per
 * process. undici's `request` costs about a quarter of the CPU of the global `fetch` per call
 * (no WHATWG streams, no AbortSignal per request), which matters when every reply is an API call.
 */
import type { Agent, request as Request } from 'undici';

/**
 * undici's `request` and the process's keep-alive pool, shared with the agents' fetch. Loaded on the
 * first call: undici is a large module, and a gateway without such a channel or agent never needs it.
 */
let client: Promise<{ request: typeof Request; pool: Agent }> | undefined;
export const undici = () =>
  (client ??= import('undici').then((u) => ({ request: u.request, pool: new u.Agent({ keepAliveTimeout: 10_000, connections: 64 }) })));

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
export function postJson(url: string, body: unknown, opts: JsonCallOptions): Promise<JsonAnswer> {
  return call(url, 'POST', opts, JSON.stringify(body));
}

/**
 * POSTs a body that is not JSON (a multipart upload; its Content-Type in `opts.headers`) and parses
 * the JSON answer; same errors and timeouts as `postJson`.
 */
export function postForJson(url: string, body: Buffer, opts: JsonCallOptions): Promise<JsonAnswer> {
  return call(url, 'POST', opts, body);
}

/** GETs `url` and parses the JSON answer; same errors and timeouts as `postJson`. */
export function getJson(url: string, opts: JsonCallOptions): Promise<JsonAnswer> {
  return call(url, 'GET', opts);
}

export interface JsonCallOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Ends the call early (a long poll when the channel stops): it rejects with an AbortError. */
  signal?: AbortSignal;
}

/** A raw answer, for callers that judge status, headers and body themselves (a user's webhook receiver). */
export interface TextAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * POSTs an already serialized JSON `body` (the exact bytes a signature covers) and returns the answer
 * as text, whatever its content type. Throws on a network error and on no answer within `timeoutMs`.
 */
export async function postJsonText(url: string, body: string, opts: JsonCallOptions): Promise<TextAnswer> {
  const res = await exchange(url, 'POST', opts, body);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function exchange(url: string, method: 'GET' | 'POST', opts: JsonCallOptions, body?: string | Buffer) {
  const { request, pool } = await undici();
  const headers = body === undefined ? opts.headers : { 'content-type': 'application/json', ...opts.headers };
  return request(url, { method, headers, body, dispatcher: pool, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, signal: opts.signal });
}

async function call(url: string, method: 'GET' | 'POST', opts: JsonCallOptions, body?: string | Buffer): Promise<JsonAnswer> {
  const res = await exchange(url, method, opts, body);
  const text = await res.body.text();
  if (text.trim() === '') return { status: res.statusCode, json: undefined };
  try {
    return { status: res.statusCode, json: JSON.parse(text) };
  } catch {
    throw new Error(`HTTP ${res.statusCode} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}
