/**
 * Feishu/Lark event-subscription crypto: the X-Lark-Signature check and the Encrypt Key scheme
 * (AES-256-CBC, key = SHA-256 of the Encrypt Key, random IV sent in front of the ciphertext).
 * Spec: the open-platform "Encrypt Key" docs and the official SDKs (go event/event.go, node utils/aes-cipher.ts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CocoError } from '../../core/errors.js';
import { sha256 } from '../../core/hash.js';

const BLOCK = 16;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;
// Strict UTF-8: a payload that is not valid UTF-8 was not encrypted by the platform.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Request headers as Node gives them (lower-case names), or any case. */
export type LarkHeaders = Record<string, string | string[] | undefined>;

const invalid = (field: string, message: string, cause?: unknown) =>
  new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: 'feishu', cause });
const unauthorized = (message: string) => new CocoError('COCO_ERR_UNAUTHORIZED', message, { statusCode: 401, channel: 'feishu' });

function header(headers: LarkHeaders, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== want) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** Lower-case hex SHA-256 of timestamp + nonce + encryptKey + the raw body bytes. */
export function larkSignature(timestamp: string, nonce: string, encryptKey: string, rawBody: string | Buffer): string {
  return createHash('sha256').update(timestamp + nonce + encryptKey, 'utf8').update(rawBody).digest('hex');
}

/**
 * Checks X-Lark-Signature against the exact request bytes (re-serialized JSON would not match) in
 * constant time. False, never a throw, when a header is missing or malformed.
 */
export function verifyLarkSignature(headers: LarkHeaders, rawBody: string | Buffer, encryptKey: string): boolean {
  const timestamp = header(headers, 'x-lark-request-timestamp');
  const nonce = header(headers, 'x-lark-request-nonce');
  const given = header(headers, 'x-lark-signature')?.toLowerCase();
  if (timestamp === undefined || nonce === undefined || given === undefined || !SIGNATURE_RE.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(larkSignature(timestamp, nonce, encryptKey, rawBody), 'hex'));
}

/** Constant-time comparison of a verification token; false for anything that is not a string. */
export function verifyLarkToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  return timingSafeEqual(sha256(given), sha256(expected));
}

function aesKey(encryptKey: string): Buffer {
  return sha256(encryptKey);
}

/** base64(IV | AES-256-CBC(plaintext, PKCS#7/16)). `iv` is for deterministic tests and fakes. */
export function encryptLarkPayload(plaintext: string, encryptKey: string, iv: Buffer = randomBytes(BLOCK)): string {
  if (iv.length !== BLOCK) throw new CocoError('COCO_ERR_INTERNAL', `iv must be ${BLOCK} bytes, got ${iv.length}`);
  const cipher = createCipheriv('aes-256-cbc', aesKey(encryptKey), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** Reverses `encryptLarkPayload`; malformed input is a CocoError REQUEST_INVALID (400) naming `encrypt`. */
export function decryptLarkPayload(encrypt: string, encryptKey: string): string {
  if (typeof encrypt !== 'string' || encrypt === '' || !BASE64_RE.test(encrypt)) throw invalid('encrypt', 'is not base64');
  const data = Buffer.from(encrypt, 'base64');
  if (data.length < 2 * BLOCK || data.length % BLOCK !== 0) {
    throw invalid('encrypt', `decodes to ${data.length} bytes; expected a 16-byte IV and whole 16-byte blocks`);
  }
  let plain: Buffer;
  try {
    // Padding is checked by hand below: Node's own check fails with an opaque OpenSSL message.
    const decipher = createDecipheriv('aes-256-cbc', aesKey(encryptKey), data.subarray(0, BLOCK)).setAutoPadding(false);
    plain = Buffer.concat([decipher.update(data.subarray(BLOCK)), decipher.final()]);
  } catch (err) {
    throw invalid('encrypt', 'could not be decrypted', err);
  }
  const n = plain[plain.length - 1] ?? 0;
  if (n < 1 || n > BLOCK || !plain.subarray(plain.length - n).every((b) => b === n)) {
    throw invalid('encrypt', 'has invalid padding (wrong encrypt_key?)');
  }
  try {
    return UTF8.decode(plain.subarray(0, plain.length - n));
  } catch (err) {
    throw invalid('encrypt', 'does not decrypt to UTF-8 text (wrong encrypt_key?)', err);
  }
}

/** Decrypts and parses the JSON object inside an `{"encrypt": …}` body. */
export function decryptLarkJson(encrypt: string, encryptKey: string): Record<string, unknown> {
  return parseObject(decryptLarkPayload(encrypt, encryptKey), 'encrypt');
}

function parseObject(text: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(field, `is not JSON: ${(err as Error).message}`, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'is not a JSON object');
  return value as Record<string, unknown>;
}

export interface LarkWebhookKeys {
  encryptKey?: string;
  verificationToken?: string;
}

export interface OpenedLarkWebhook {
  /** The event or challenge object, decrypted when it came encrypted. */
  payload: Record<string, unknown>;
  encrypted: boolean;
}

/**
 * Opens one webhook POST: parses the body, decrypts `{"encrypt"}`, checks the signature (event pushes
 * with an Encrypt Key; the challenge is not signed) and the verification token (`header.token` in
 * schema 2.0, `token` in the challenge and v1 events).
 *
 * With an Encrypt Key configured every push arrives encrypted, so a plaintext body is refused: nobody
 * can downgrade to unsigned requests. No timestamp window is applied: whether redeliveries are re-signed
 * is not documented, and duplicates are dropped by event_id anyway.
 */
export function openLarkWebhook(rawBody: string | Buffer, headers: LarkHeaders, keys: LarkWebhookKeys): OpenedLarkWebhook {
  const outer = parseObject(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'), 'body');
  const encrypted = 'encrypt' in outer;
  let payload = outer;
  if (encrypted) {
    if (!keys.encryptKey) throw unauthorized('the body is encrypted but no encrypt_key is configured');
    if (typeof outer.encrypt !== 'string') throw invalid('encrypt', 'is not a string');
    payload = decryptLarkJson(outer.encrypt, keys.encryptKey);
  } else if (keys.encryptKey) {
    throw unauthorized('unencrypted body refused: an encrypt_key is configured, so the platform encrypts every push');
  }

  const challenge = payload.type === 'url_verification';
  if (!challenge && keys.encryptKey && !verifyLarkSignature(headers, rawBody, keys.encryptKey)) {
    throw unauthorized('X-Lark-Signature does not match the body and the configured encrypt_key');
  }
  if (keys.verificationToken) {
    const head = payload.header;
    const token = payload.schema !== undefined && typeof head === 'object' && head !== null ? (head as Record<string, unknown>).token : payload.token;
    if (!verifyLarkToken(token, keys.verificationToken)) throw unauthorized('the verification token does not match verification_token');
  }
  return { payload, encrypted };
}
