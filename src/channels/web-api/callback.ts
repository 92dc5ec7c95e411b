import { CocoError, describeError } from '../../core/errors.js';
import { isRetryableStatus, parseRetryAfter } from '../../core/retry-after.js';
import { SIGNATURE_HEADER, signatureHeaders } from '../../core/signature.js';
import { postJsonText, type TextAnswer } from '../shared/http-json.js';

/** The JSON body POSTed to `callback_url`, one per reply chunk. */
export interface CallbackPayload {
  messageId: string;
  userId: string;
  conversationId: string;
  text: string;
  format: 'text' | 'markdown';
  chunk: { index: number; count: number };
  /** An image chunk: its URL (or data: URL); `text` is its alt text. */
  image?: { url: string };
  /** The chunk's event id in the SSE feed: the same number a stream client sees. */
  seq: number;
}

export interface CallbackTarget {
  url: string;
  secret: string;
  timeoutMs: number;
}

/**
 * POSTs one reply chunk to the client's URL, signed like the `http` agent's requests. Resolves on
 * 2xx; otherwise throws COCO_ERR_CHANNEL_SEND, retryable for network errors, timeouts, 408, 429
 * (with its Retry-After) and 5xx, so the outbox retries or dead-letters it.
 */
export async function postCallback(target: CallbackTarget, payload: CallbackPayload, idempotencyKey: string, nowMs: number): Promise<void> {
  const body = JSON.stringify(payload);
  const signed = signatureHeaders(target.secret, nowMs, body);
  const headers = { 'idempotency-key': idempotencyKey, ...signed };
  // The query string may carry the client's own token: messages name the origin and path only.
  const where = displayUrl(target.url);
  let answer: TextAnswer;
  try {
    answer = await postJsonText(target.url, body, { timeoutMs: target.timeoutMs, headers });
  } catch (err) {
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `web_api: callback to ${where} failed: ${failure(err, target.timeoutMs)}`, {
      channel: 'web_api',
      retryable: true,
      cause: err,
    });
  }
  const { status } = answer;
  if (status >= 200 && status < 300) return;
  // The agents' classification, except 409: from a receiver it refuses the delivery, it is no lock timeout.
  const retryable = status !== 409 && isRetryableStatus(status);
  const retryAfterMs = status === 429 ? parseRetryAfter(answer.headers, nowMs) : undefined;
  // A receiver that echoes the request back must not put our signature into logs and dead letters.
  const excerpt = snippet(answer.text.split(signed[SIGNATURE_HEADER]!).join('[signature]'));
  throw new CocoError('COCO_ERR_CHANNEL_SEND', `web_api: callback to ${where} answered HTTP ${status}: ${excerpt}`, {
    channel: 'web_api',
    statusCode: status,
    retryable,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

function failure(err: unknown, timeoutMs: number): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return `no answer within ${timeoutMs} ms`;
  // undici hides the useful part (ECONNREFUSED, …) in `cause`.
  const cause = err instanceof Error && err.cause !== undefined ? `: ${describeError(err.cause)}` : '';
  return describeError(err) + cause;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 200) + '…' : flat || '(empty body)';
}
