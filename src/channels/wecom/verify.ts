import { CocoError, isCocoError } from '../../core/errors.js';
import { TencentCrypto } from '../shared/tencent-crypto.js';
import { parseTencentXml, type TencentXmlFields } from '../shared/tencent-xml.js';
import type { WecomChannelConfig } from './config.js';

/**
 * Authenticates WeCom app callbacks (protocols.md §2.1–2.2). Every request is signed with
 * msg_signature = sha1(sort([token, timestamp, nonce, ciphertext])) and its payload is encrypted with
 * the EncodingAESKey, the CorpID sealed inside: the signature proves the sender knows the token, the
 * CorpID check binds the payload to this company, the timestamp window stops replays of old requests.
 */

/** The query of a callback; values are checked, since a repeated parameter arrives as an array. */
export interface WecomQuery {
  msg_signature?: unknown;
  timestamp?: unknown;
  nonce?: unknown;
  echostr?: unknown;
}

type Settings = Pick<WecomChannelConfig, 'corp_id' | 'timestamp_window_seconds'>;

/** The message crypto of an entry: receive id = CorpID. Throws COCO_ERR_CONFIG_INVALID naming a bad token or key. */
export function createWecomCrypto(config: Pick<WecomChannelConfig, 'token' | 'encoding_aes_key' | 'corp_id'>): TencentCrypto {
  return new TencentCrypto({ token: config.token, encodingAesKey: config.encoding_aes_key, receiveId: config.corp_id });
}

const unauthorized = (field: string, message: string) =>
  new CocoError('COCO_ERR_UNAUTHORIZED', `${field}: ${message}`, { statusCode: 401, field, channel: 'wecom' });
const invalid = (field: string, message: string, cause?: unknown) =>
  new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field, channel: 'wecom', cause });

function param(query: WecomQuery, name: keyof WecomQuery): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(name, 'must be given once');
  return value;
}

/** Signed by our token over `signed`, and recent: a replayed old request is refused even with a valid signature. */
function checkSigned(query: WecomQuery, signed: string, crypto: TencentCrypto, config: Settings, nowMs: number): { timestamp: string; nonce: string } {
  const msgSignature = param(query, 'msg_signature');
  const timestamp = param(query, 'timestamp');
  const nonce = param(query, 'nonce');
  if (msgSignature === undefined) throw unauthorized('msg_signature', 'is missing');
  if (timestamp === undefined) throw invalid('timestamp', 'is missing');
  if (!/^\d{1,12}$/.test(timestamp)) throw invalid('timestamp', 'is not a Unix time in seconds');
  if (nonce === undefined) throw invalid('nonce', 'is missing');
  if (!crypto.verify(msgSignature, timestamp, nonce, signed)) throw unauthorized('msg_signature', 'does not match the configured token');
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > config.timestamp_window_seconds) {
    throw unauthorized('timestamp', `${timestamp} is outside the ${config.timestamp_window_seconds} s window`);
  }
  return { timestamp, nonce };
}

/** Decrypts, turning the crypto's errors into ones that name the field and, for a foreign CorpID, say so. */
function decrypt(crypto: TencentCrypto, encrypted: string, field: string, config: Settings): string {
  try {
    return crypto.decrypt(encrypted);
  } catch (err) {
    if (!isCocoError(err)) throw err;
    if (/receive id/.test(err.message)) throw invalid(field, `is encrypted for another CorpID, not ${config.corp_id}`, err);
    // Padding and length errors after a valid signature mostly mean a wrong EncodingAESKey.
    throw invalid(field, `${err.message.replace(/^encrypted message /, '')} (check encoding_aes_key)`, err);
  }
}

/**
 * GET URL verification (设置API接收 → 保存): the echostr is encrypted; the answer is its plaintext, which
 * only a holder of the EncodingAESKey can produce. WeCom wants it within 1 s, as the body, nothing else.
 */
export function verifyUrl(query: WecomQuery, crypto: TencentCrypto, config: Settings, nowMs: number): string {
  // A '+' the sender left unencoded arrives as a space; base64 has no spaces, so this restores it.
  const echostr = param(query, 'echostr')?.replaceAll(' ', '+');
  if (echostr === undefined) throw invalid('echostr', 'is missing');
  checkSigned(query, echostr, crypto, config, nowMs);
  return decrypt(crypto, echostr, 'echostr', config);
}

export interface OpenedWecomRequest {
  /** The decrypted message's fields. */
  fields: TencentXmlFields;
  /** The clear-text envelope around Encrypt: ToUserName and AgentID (unauthenticated, for logs only). */
  envelope: TencentXmlFields;
  timestamp: string;
  nonce: string;
}

/**
 * Verifies and opens a message POST: the msg_signature over the Encrypt value, the timestamp window,
 * then decryption with the CorpID check. Malformed or oversize XML is refused (400/413) before any crypto.
 */
export function openRequest(query: WecomQuery, body: string, crypto: TencentCrypto, config: Settings, nowMs: number): OpenedWecomRequest {
  const envelope = parseTencentXml(body, { channel: 'wecom' });
  const encrypt = envelope.Encrypt;
  if (!encrypt) throw invalid('Encrypt', 'is missing: WeCom app callbacks are always encrypted');
  const { timestamp, nonce } = checkSigned(query, encrypt, crypto, config, nowMs);
  const fields = parseTencentXml(decrypt(crypto, encrypt, 'Encrypt', config), { channel: 'wecom' });
  const { Encrypt: _ciphertext, ...clear } = envelope;
  return { fields, envelope: clear, timestamp, nonce };
}
