import { createHmac } from 'node:crypto';

/**
 * The signature on every request CocoCat makes to a user's own service (the `http` agent, the
 * Web API's reply callback), and on an `http` agent's later replies to CocoCat (server/agent-api.ts): `X-CocoCat-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
 * with `X-CocoCat-Timestamp` in unix seconds. The receiver recomputes it over the raw body bytes.
 */
export const TIMESTAMP_HEADER = 'x-cococat-timestamp';
export const SIGNATURE_HEADER = 'x-cococat-signature';

/** `sha256=<hex>` over `timestamp + "." + body` (a received body as its raw bytes). */
export function signBody(secret: string, timestamp: string, body: string | Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The timestamp header, and the signature header when there is a secret to sign with. */
export function signatureHeaders(secret: string | undefined, nowMs: number, body: string): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000).toString();
  return secret ? { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signBody(secret, timestamp, body) } : { [TIMESTAMP_HEADER]: timestamp };
}
