/**
 * The webhook half of the fake Feishu (protocols.md §4): event pushes to the developer's Request URL, plaintext or
 * `{"encrypt": …}` with X-Lark-Request-Timestamp/Nonce/Signature over the exact body bytes, redelivery on anything but
 * HTTP 200 within the deadline, and the url_verification challenge.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { TimedRequests } from '../timed-requests.js';
import { encrypt, sign } from './crypto.js';

export interface WebhookPushOptions {
  /** Encrypt and sign with this Encrypt Key; without one the body is plaintext and unsigned. */
  encryptKey?: string;
  /** Put a well-formed but wrong X-Lark-Signature on every try. */
  forgeSignature?: boolean;
  /** Waits between tries after a failure (real: 15 s, 5 min, 1 h, 6 h). */
  retrySchedule?: number[];
  /** How long one try may take before it counts as failed (real: 3 s). */
  timeoutMs?: number;
  /** Extra headers on every try. */
  headers?: Record<string, string>;
}

export interface WebhookAttempt {
  at: number;
  status?: number;
  body?: string;
  timedOut: boolean;
  /** Connection error (refused, reset) when there was no HTTP answer and no timeout. */
  error?: string;
  ms: number;
  /** The headers this try carried (timestamp, nonce, signature). */
  headers: Record<string, string>;
}

export interface WebhookResult {
  /** The exact bytes POSTed (the same on every try). */
  body: string;
  attempts: WebhookAttempt[];
  /** Some try got HTTP 200 in time. */
  delivered: boolean;
  /** The fake closed before the tries were over. */
  cancelled: boolean;
}

export interface UrlVerificationResult {
  ok: boolean;
  challenge: string;
  status?: number;
  body?: string;
  /** Why the console would reject the URL. */
  reason?: string;
}

export const REAL_RETRY_SCHEDULE_MS = [15_000, 300_000, 3_600_000, 21_600_000];

const forge = (sig: string): string => `${sig.startsWith('0') ? '1' : '0'}${sig.slice(1)}`;

/** Sleeps that `close()` can cut short, so a fake never keeps the process alive. */
export class Sleeper {
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  closed = false;
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve(true);
      }, ms);
      this.timers.set(timer, () => resolve(false));
    });
  }
  close(): void {
    this.closed = true;
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake();
    }
    this.timers.clear();
  }
}

const requests = new TimedRequests();

/** One try, as Feishu sends it: the platform stops waiting after `timeoutMs`. */
function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<Omit<WebhookAttempt, 'headers' | 'at'>> {
  return requests.send(url, { method: 'POST', body, headers, timeoutMs });
}

function signedHeaders(body: string, opts: WebhookPushOptions): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(8).toString('hex');
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-lark-request-timestamp': timestamp,
    'x-lark-request-nonce': nonce,
    'x-request-id': randomUUID(),
    ...opts.headers,
  };
  if (opts.encryptKey) {
    const signature = sign(timestamp, nonce, opts.encryptKey, body);
    headers['x-lark-signature'] = opts.forgeSignature ? forge(signature) : signature;
  }
  return headers;
}

/** POSTs `event` to `url` and redelivers per the schedule until an HTTP 200 arrives in time. */
export async function pushWebhook(url: string, event: unknown, opts: WebhookPushOptions, sleeper: Sleeper): Promise<WebhookResult> {
  const plain = JSON.stringify(event);
  const body = opts.encryptKey ? JSON.stringify({ encrypt: encrypt(opts.encryptKey, plain) }) : plain;
  const schedule = opts.retrySchedule ?? REAL_RETRY_SCHEDULE_MS;
  const attempts: WebhookAttempt[] = [];
  for (let i = 0; ; i++) {
    const headers = signedHeaders(body, opts);
    const at = Date.now();
    const result = await post(url, body, headers, opts.timeoutMs ?? 3000);
    attempts.push({ at, headers, ...result });
    // Only 200 counts; Feishu treats other 2xx as failures too.
    if (result.status === 200) return { body, attempts, delivered: true, cancelled: false };
    const wait = schedule[i];
    if (wait === undefined) return { body, attempts, delivered: false, cancelled: false };
    if (!(await sleeper.sleep(wait))) return { body, attempts, delivered: false, cancelled: true };
  }
}

/** One unretried POST of exactly this body and these headers, for malformed or forged requests. */
export async function rawWebhook(url: string, body: string, headers: Record<string, string>, timeoutMs = 3000): Promise<WebhookAttempt> {
  const at = Date.now();
  return { at, headers, ...(await post(url, body, { 'content-type': 'application/json; charset=utf-8', ...headers }, timeoutMs)) };
}

export interface UrlVerificationOptions {
  verificationToken: string;
  /** Encrypt the challenge request, as Feishu does when an Encrypt Key is configured. */
  encryptKey?: string;
  challenge?: string;
  /** Real: the answer must come within 1 s. */
  timeoutMs?: number;
}

/** The console's "save Request URL" check: the answer must be HTTP 200 and JSON `{"challenge": <same>}`. */
export async function urlVerification(url: string, opts: UrlVerificationOptions): Promise<UrlVerificationResult> {
  const challenge = opts.challenge ?? randomUUID();
  const plain = JSON.stringify({ challenge, token: opts.verificationToken, type: 'url_verification' });
  const body = opts.encryptKey ? JSON.stringify({ encrypt: encrypt(opts.encryptKey, plain) }) : plain;
  const res = await post(url, body, { 'content-type': 'application/json; charset=utf-8' }, opts.timeoutMs ?? 1000);
  const base = { challenge, status: res.status, body: res.body };
  if (res.timedOut) return { ...base, ok: false, reason: `no answer within ${opts.timeoutMs ?? 1000} ms` };
  if (res.error) return { ...base, ok: false, reason: res.error };
  if (res.status !== 200) return { ...base, ok: false, reason: `HTTP ${res.status}` };
  let echoed: unknown;
  try {
    echoed = (JSON.parse(res.body ?? '') as { challenge?: unknown }).challenge;
  } catch {
    return { ...base, ok: false, reason: 'the answer is not JSON' };
  }
  if (echoed !== challenge) return { ...base, ok: false, reason: 'the answer does not echo the challenge' };
  return { ...base, ok: true };
}
