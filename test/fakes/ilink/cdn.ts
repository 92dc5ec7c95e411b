/**
 * WeChat's media CDN (protocols.md §7.3, and the official plugin's `src/cdn/`): files live AES-128-ECB encrypted
 * (PKCS#7) under an opaque `encrypt_query_param`, downloaded with `GET {cdn}/download?encrypted_query_param=<urlenc>`.
 * Uploads (`POST {cdn}/upload`) are in upload.ts; what they store lands here.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CdnMedia } from './types.js';

/** How the key travels in `media.aes_key`: base64 of the 16 raw bytes (images), of their 32 hex digits (files, voice, video), or not at all (a plain file). */
export type KeyForm = 'raw' | 'hex' | 'none';

export interface HostedMedia {
  /** The `media` object of an item: `encrypt_query_param`, `aes_key` (unless plain), `encrypt_type`, `full_url?`. */
  media: CdnMedia;
  /** The 16-byte key (also what an image item's `aeskey` carries, as hex). */
  key: Buffer;
  /** What the CDN serves. */
  ciphertext: Buffer;
}

/** A file the CDN holds: what it serves, and the key it was encrypted with (none for a plain file). */
export interface CdnFile {
  body: Buffer;
  key?: Buffer;
  expired: boolean;
}

/** AES-128-ECB with PKCS#7 padding to 16 bytes, as the CDN stores files (`encrypt_type` 1). */
export function encryptEcb(data: Buffer, key: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** The inverse of `encryptEcb`; throws when the padding is wrong (another key, or a cut ciphertext). */
export function decryptEcb(ciphertext: Buffer, key: Buffer): Buffer {
  const decipher = createDecipheriv('aes-128-ecb', key, null);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

/** PKCS#7 always pads, 1 to 16 bytes: the ciphertext size of `rawSize` plaintext bytes. */
export const paddedSize = (rawSize: number): number => Math.floor(rawSize / 16) * 16 + 16;

const HEX_KEY = /^[0-9a-fA-F]{32}$/;

/**
 * The 16-byte key a `media.aes_key` carries: base64 of the 16 raw bytes (how inbound images come) or of their
 * 32 hex digits (how the official plugin sends every media item). Undefined for anything else.
 */
export function keyOfAesKey(aesKey: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(aesKey) || aesKey.length % 4 !== 0) return undefined;
  const decoded = Buffer.from(aesKey, 'base64');
  if (decoded.length === 16) return decoded;
  const text = decoded.toString('latin1');
  return HEX_KEY.test(text) ? Buffer.from(text, 'hex') : undefined;
}

export class Cdn {
  private readonly files = new Map<string, CdnFile>();

  constructor(readonly baseUrl: () => string) {}

  /** Stores `data` under a fresh parameter, encrypted with a fresh key unless `keyForm` is `none`. */
  host(data: Buffer, opts: { keyForm?: KeyForm; fullUrl?: boolean; expired?: boolean } = {}): HostedMedia {
    const keyForm = opts.keyForm ?? 'raw';
    const key = randomBytes(16);
    const ciphertext = keyForm === 'none' ? Buffer.from(data) : encryptEcb(data, key);
    const param = this.store(ciphertext, keyForm === 'none' ? undefined : key);
    if (opts.expired) this.expire(param);
    const aesKey = keyForm === 'raw' ? key.toString('base64') : keyForm === 'hex' ? Buffer.from(key.toString('hex')).toString('base64') : undefined;
    const media: CdnMedia = {
      encrypt_query_param: param,
      ...(aesKey ? { aes_key: aesKey } : {}),
      encrypt_type: keyForm === 'none' ? 0 : 1,
      ...(opts.fullUrl ? { full_url: this.downloadUrl(param) } : {}),
    };
    return { media, key, ciphertext };
  }

  /** Keeps a file under a fresh parameter and returns it. */
  store(body: Buffer, key: Buffer | undefined): string {
    // Opaque and long, with base64's + / = so a client that forgets to URL-encode it fails here.
    const param = `${randomBytes(45).toString('base64')}+/=`;
    this.files.set(param, { body, ...(key ? { key } : {}), expired: false });
    return param;
  }

  /** The file behind a download parameter, expired or not. */
  file(param: string): CdnFile | undefined {
    return this.files.get(param);
  }

  downloadUrl(param: string): string {
    return `${this.baseUrl()}/download?encrypted_query_param=${encodeURIComponent(param)}`;
  }

  /** Expires one file (by its parameter) or all; returns how many were live. */
  expire(param?: string): number {
    let n = 0;
    for (const [p, file] of this.files) {
      if (param !== undefined && p !== param) continue;
      if (!file.expired) n++;
      file.expired = true;
    }
    return n;
  }

  /** `GET /c2c/download?encrypted_query_param=…`: the ciphertext, or an error status with `x-error-message`. */
  answer(method: string, url: URL): { status: number; headers: Record<string, string>; body: Buffer } {
    const error = (status: number, message: string) => ({ status, headers: { 'content-type': 'text/plain', 'x-error-message': message }, body: Buffer.from(message) });
    if (method !== 'GET') return error(405, 'download takes GET');
    const param = url.searchParams.get('encrypted_query_param');
    if (!param) return error(400, 'missing encrypted_query_param');
    const file = this.files.get(param);
    if (!file) return error(404, 'file not found');
    if (file.expired) return error(404, 'file expired');
    return { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.body.length) }, body: file.body };
  }
}
