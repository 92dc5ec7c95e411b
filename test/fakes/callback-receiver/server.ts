import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJson, readBody, sendJson } from '../http.js';

/** A scripted answer for the next request(s) instead of accepting the delivery. */
export type ReceiverFailure = { status: number; retryAfter?: number; body?: string } | { hang: true };

export interface CallbackReceiverOptions {
  /** The shared secret the gateway signs with (`callback_secret`). */
  secret: string;
  /** Largest accepted distance between X-CocoCat-Timestamp and `now()`, in seconds; default 300. */
  toleranceSeconds?: number;
  /** The receiver's own clock, epoch ms; default Date.now. */
  now?: () => number;
}

export interface Delivery {
  /** The JSON body, parsed; undefined when it was not a JSON object. */
  body: Record<string, unknown> | undefined;
  raw: string;
  idempotencyKey: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  /** Signature present, matching the raw body, and timestamp within the window. */
  verified: boolean;
  /** Why verification failed, when it did. */
  problem?: string;
  /**
   * accepted: 2xx, first time this Idempotency-Key was accepted; duplicate: 2xx, already accepted
   * before (dropped, as a real receiver would); rejected: failed verification (401);
   * failed: a scripted status; hung: never answered.
   */
  outcome: 'accepted' | 'duplicate' | 'rejected' | 'failed' | 'hung';
  status?: number;
}

export interface CallbackReceiver {
  /** The URL to put into `callback_url`. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly deliveries: Delivery[];
  /** Bodies of accepted deliveries, once per Idempotency-Key. */
  readonly accepted: Record<string, unknown>[];
  /** The next `n` verified requests answer with `failure`. Calls queue up. */
  failNext(n: number, failure: ReceiverFailure): void;
  /** From now on, verified requests are kept open (a stalled service) until `release()`. */
  hold(): void;
  /** Answers every held request as it would have been answered, and stops holding. */
  release(): void;
  /** Requests open right now because of `hold()`. */
  readonly held: number;
  close(): Promise<void>;
}

/**
 * A client's callback endpoint, checking requests the way the docs tell a client to:
 * HMAC-SHA256 over `timestamp + "." + raw body`, compared in constant time, timestamp within
 * the window. Deliberately does not import the gateway's signing code.
 */
export async function startCallbackReceiver(opts: CallbackReceiverOptions): Promise<CallbackReceiver> {
  const deliveries: Delivery[] = [];
  const script: ReceiverFailure[] = [];
  const seen = new Set<string>();
  let holding = false;
  const parked: (() => void)[] = [];
  const tolerance = opts.toleranceSeconds ?? 300;
  const now = opts.now ?? Date.now;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
    });
  });

  function verify(raw: string, timestamp: string | undefined, signature: string | undefined): string | undefined {
    if (!timestamp || !/^\d+$/.test(timestamp)) return 'missing or malformed X-CocoCat-Timestamp';
    if (Math.abs(now() / 1000 - Number(timestamp)) > tolerance) return 'timestamp outside the window';
    if (!signature?.startsWith('sha256=')) return 'missing X-CocoCat-Signature';
    const expected = Buffer.from('sha256=' + createHmac('sha256', opts.secret).update(`${timestamp}.${raw}`).digest('hex'));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'signature mismatch';
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const timestamp = header('x-cococat-timestamp');
    const signature = header('x-cococat-signature');
    const idempotencyKey = header('idempotency-key');
    const problem = req.method === 'POST' ? verify(raw, timestamp, signature) : `method ${req.method}`;
    const delivery: Delivery = { body: parseJson(raw), raw, idempotencyKey, timestamp, signature, verified: problem === undefined, outcome: 'rejected' };
    if (problem !== undefined) delivery.problem = problem;
    deliveries.push(delivery);
    if (problem !== undefined) return answer(res, delivery, 401, { error: problem });

    if (holding) {
      await new Promise<void>((resolve) => parked.push(resolve));
      if (res.destroyed) return;
    }
    const failure = script.shift();
    if (failure && 'hang' in failure) {
      delivery.outcome = 'hung';
      return; // never answer; the gateway must time out
    }
    if (failure) {
      delivery.outcome = 'failed';
      if (failure.retryAfter !== undefined) res.setHeader('retry-after', String(failure.retryAfter));
      return answer(res, delivery, failure.status, { error: failure.body ?? `scripted ${failure.status}` });
    }
    const duplicate = idempotencyKey !== undefined && seen.has(idempotencyKey);
    if (idempotencyKey !== undefined) seen.add(idempotencyKey);
    delivery.outcome = duplicate ? 'duplicate' : 'accepted';
    return answer(res, delivery, 200, { ok: true, duplicate });
  }

  function answer(res: ServerResponse, delivery: Delivery, status: number, body: unknown): void {
    delivery.status = status;
    sendJson(res, status, body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/cococat`,
    deliveries,
    get accepted() {
      return deliveries.filter((d) => d.outcome === 'accepted').map((d) => d.body ?? {});
    },
    failNext(n, failure) {
      for (let i = 0; i < n; i++) script.push(failure);
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const resume of parked.splice(0)) resume();
    },
    get held() {
      return parked.length;
    },
    close() {
      // Hanging requests would keep close() waiting forever.
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
