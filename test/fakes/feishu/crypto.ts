/**
 * Feishu's webhook crypto (protocols.md §4.2–§4.3), as pure functions: AES-256-CBC with key = SHA-256(Encrypt Key),
 * a random 16-byte IV prepended to the ciphertext, PKCS#7 padding to 16, base64; and the push signature
 * hex(SHA-256(timestamp + nonce + encryptKey + rawBody)).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const keyOf = (encryptKey: string): Buffer => createHash('sha256').update(encryptKey, 'utf8').digest();

/** `base64(IV ‖ AES-256-CBC(plaintext))`; the IV is random unless given (for reproducible tests). */
export function encrypt(encryptKey: string, plaintext: string, iv: Buffer = randomBytes(16)): string {
  if (iv.length !== 16) throw new Error('encrypt: the IV must be 16 bytes');
  const cipher = createCipheriv('aes-256-cbc', keyOf(encryptKey), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** Inverse of `encrypt`; throws on a wrong key or a damaged ciphertext (bad padding). */
export function decrypt(encryptKey: string, encrypted: string): string {
  const buf = Buffer.from(encrypted, 'base64');
  if (buf.length < 32 || buf.length % 16 !== 0) throw new Error('decrypt: ciphertext is not IV + whole AES blocks');
  const decipher = createDecipheriv('aes-256-cbc', keyOf(encryptKey), buf.subarray(0, 16));
  return Buffer.concat([decipher.update(buf.subarray(16)), decipher.final()]).toString('utf8');
}

/** `X-Lark-Signature`: computed over the exact body bytes sent, never a re-serialization. */
export function sign(timestamp: string, nonce: string, encryptKey: string, rawBody: string | Buffer): string {
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(timestamp + nonce + encryptKey, 'utf8'), Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8')]))
    .digest('hex');
}
