/**
 * Tencent "WXBizMsgCrypt" message crypto, shared by the WeChat Official Account channel (receive id = AppID),
 * the WeCom app channel (CorpID) and the WeCom AI bot webhook (empty receive id).
 * Spec and vectors: docs of WXBizMsgCrypt; wechatpy `crypto/*` and `tests/test_crypto.py`.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual, type Decipher } from 'node:crypto';
import { CocoError } from '../../core/errors.js';
import { sha1Hex } from '../../core/hash.js';

/** Tencent pads to 32 bytes (the AES key size), not the AES block size of 16, so Node's own padding can't be used. */
const PAD_BLOCK = 32;
const RANDOM_LEN = 16;
const HEADER_LEN = RANDOM_LEN + 4;
const SIGNATURE_RE = /^[0-9a-f]{40}$/;
// Padded base64: the alphabet, at most two '=' at the end, and a length that is a multiple of 4
// (a single-pass regex; the grouped form backtracks and showed up in profiles).
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (s: string) => s.length % 4 === 0 && BASE64_RE.test(s);
// Strict UTF-8: a message that isn't valid UTF-8 is a broken request, not text to guess at.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface TencentCryptoOptions {
  token: string;
  /** The 43-char EncodingAESKey from the platform console. */
  encodingAesKey: string;
  /** AppID (OA), CorpID (WeCom app) or '' (WeCom AI bot). */
  receiveId: string;
}

export interface EncryptedRequest {
  msgSignature: string;
  timestamp: string;
  nonce: string;
  encrypt: string;
}

/** Lowercase hex SHA1 of the sorted items: 3 items = plaintext-mode `signature`, 4 = `msg_signature`. */
export function signature(token: string, timestamp: string, nonce: string, encrypt?: string): string {
  const items = encrypt === undefined ? [token, timestamp, nonce] : [token, timestamp, nonce, encrypt];
  // Default sort compares UTF-16 code units, which equals byte order for the ASCII values Tencent sends.
  return sha1Hex(items.sort().join(''));
}

/** Constant-time check of a received signature; false (never a throw) on anything malformed. */
export function verifySignature(expected: string, token: string, timestamp: string, nonce: string, encrypt?: string): boolean {
  if (typeof expected !== 'string') return false;
  const given = expected.toLowerCase();
  if (!SIGNATURE_RE.test(given)) return false;
  if (typeof timestamp !== 'string' || typeof nonce !== 'string' || (encrypt !== undefined && typeof encrypt !== 'string')) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(signature(token, timestamp, nonce, encrypt), 'hex'));
}

const invalid = (message: string, cause?: unknown) => new CocoError('COCO_ERR_REQUEST_INVALID', message, { statusCode: 400, cause });

const cdata = (text: string) => `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
const escapeXml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** Decodes and checks the EncodingAESKey; Buffer.from(…, 'base64') is lenient, so validate the alphabet first. */
function parseKey(encodingAesKey: string): Buffer {
  const fail = (why: string) =>
    new CocoError('COCO_ERR_CONFIG_INVALID', `encoding_aes_key ${why}: it must be the 43-character EncodingAESKey from the platform console`, {
      field: 'encoding_aes_key',
    });
  if (typeof encodingAesKey !== 'string' || encodingAesKey.length !== 43) throw fail('has the wrong length');
  if (!/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) throw fail('is not base64');
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== 32) throw fail('does not decode to 32 bytes');
  return key;
}

export class TencentCrypto {
  private readonly token: string;
  private readonly key: Buffer;
  /** The scheme fixes the IV to the key's first 16 bytes; it is not carried in the ciphertext. */
  private readonly iv: Buffer;
  private readonly receiveId: Buffer;
  /**
   * AES-256 block decryption, kept for the life of the entry: CBC decryption is each block's ECB
   * decryption XOR the previous ciphertext block, so one ECB context serves every message (ECB
   * carries nothing from one block to the next once fed whole blocks), where a CBC decipher
   * is single-use and making one cost ~6 µs of a webhook's ~70.
   */
  private readonly blocks: Decipher;

  constructor(options: TencentCryptoOptions) {
    if (typeof options.token !== 'string' || options.token === '') {
      throw new CocoError('COCO_ERR_CONFIG_INVALID', 'token must be a non-empty string', { field: 'token' });
    }
    this.token = options.token;
    this.key = parseKey(options.encodingAesKey);
    this.iv = this.key.subarray(0, 16);
    this.receiveId = Buffer.from(options.receiveId, 'utf8');
    this.blocks = createDecipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
  }

  /** base64(AES-256-CBC(random16 | len32BE | msg | receiveId | pad32)). `random` is for deterministic tests. */
  encrypt(plaintext: string, random: Buffer = randomBytes(RANDOM_LEN)): string {
    if (random.length !== RANDOM_LEN) throw new CocoError('COCO_ERR_INTERNAL', `random must be ${RANDOM_LEN} bytes, got ${random.length}`);
    const msg = Buffer.from(plaintext, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(msg.length);
    const body = Buffer.concat([random, length, msg, this.receiveId]);
    const n = PAD_BLOCK - (body.length % PAD_BLOCK); // 1..32: an aligned body still gets a full block of 0x20
    const cipher = createCipheriv('aes-256-cbc', this.key, this.iv).setAutoPadding(false);
    return Buffer.concat([cipher.update(Buffer.concat([body, Buffer.alloc(n, n)])), cipher.final()]).toString('base64');
  }

  /** Reverses `encrypt`; any malformed input is a CocoError REQUEST_INVALID (400), never a raw crypto error. */
  decrypt(encrypted: string): string {
    return this.open(encrypted).message;
  }

  /** `decrypt` plus the 16 random bytes; internal, exposed so tests can re-encrypt published vectors. */
  open(encrypted: string): { random: Buffer; message: string } {
    if (typeof encrypted !== 'string' || !isBase64(encrypted)) throw invalid('encrypted message is not base64');
    const data = Buffer.from(encrypted, 'base64');
    if (data.length === 0 || data.length % PAD_BLOCK !== 0) throw invalid('encrypted message has an invalid length');
    const plain = this.decryptCbc(data);
    const n = plain[plain.length - 1] ?? 0;
    if (n < 1 || n > PAD_BLOCK || !plain.subarray(plain.length - n).every((b) => b === n)) throw invalid('encrypted message has invalid padding');
    const body = plain.subarray(0, plain.length - n);
    if (body.length < HEADER_LEN) throw invalid('encrypted message is too short');
    const msgLen = body.readUInt32BE(RANDOM_LEN);
    if (msgLen > body.length - HEADER_LEN) throw invalid('encrypted message length does not fit');
    // Binds the message to this app: a ciphertext for another AppID/CorpID under the same key is refused.
    if (!body.subarray(HEADER_LEN + msgLen).equals(this.receiveId)) throw invalid('encrypted message is for a different receive id');
    let message: string;
    try {
      message = UTF8.decode(body.subarray(HEADER_LEN, HEADER_LEN + msgLen));
    } catch (err) {
      throw invalid('encrypted message is not valid UTF-8', err);
    }
    return { random: Buffer.from(body.subarray(0, RANDOM_LEN)), message };
  }

  /** AES-256-CBC decryption of whole blocks (the length was checked), without padding removal. */
  private decryptCbc(data: Buffer): Buffer {
    const plain = this.blocks.update(data);
    if (plain.length !== data.length) throw new CocoError('COCO_ERR_INTERNAL', 'AES block decryption returned a partial result');
    for (let i = 0; i < 16; i++) plain[i]! ^= this.iv[i]!;
    for (let i = 16; i < plain.length; i++) plain[i]! ^= data[i - 16]!;
    return plain;
  }

  /** Checks `msg_signature` over [token, timestamp, nonce, encrypt] in constant time. */
  verify(msgSignature: string, timestamp: string, nonce: string, encrypt: string): boolean {
    return verifySignature(msgSignature, this.token, timestamp, nonce, encrypt);
  }

  /** Verifies the signature first (there is no MAC: the signature is the only integrity check), then decrypts. */
  decryptVerified(request: EncryptedRequest): string {
    if (!this.verify(request.msgSignature, request.timestamp, request.nonce, request.encrypt)) throw invalid('msg_signature does not match');
    return this.decrypt(request.encrypt);
  }

  /** The encrypted passive-reply XML envelope (OA and WeCom app). */
  wrapReply(plaintextXml: string, timestamp: string, nonce: string, random?: Buffer): string {
    const encrypted = this.encrypt(plaintextXml, random);
    const msgSignature = signature(this.token, timestamp, nonce, encrypted);
    return (
      `<xml><Encrypt>${cdata(encrypted)}</Encrypt><MsgSignature>${cdata(msgSignature)}</MsgSignature>` +
      `<TimeStamp>${escapeXml(timestamp)}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`
    );
  }
}
