/**
 * WeChat's media CDN (protocols.md §7.3, and the official plugin's `src/cdn/`): files live AES-128-ECB encrypted
 * (PKCS#7) under an opaque `encrypt_query_param`, downloaded with `GET {cdn}/download?encrypted_query_param=<urlenc>`.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
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

interface File {
  body: Buffer;
  expired: boolean;
}

/** AES-128-ECB with PKCS#7 padding to 16 bytes, as the CDN stores files (`encrypt_type` 1). */
export function encryptEcb(data: Buffer, key: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

export class Cdn {
  private readonly files = new Map<string, File>();

  constructor(private readonly baseUrl: () => string) {}

  /** Stores `data` under a fresh parameter, encrypted with a fresh key unless `keyForm` is `none`. */
  host(data: Buffer, opts: { keyForm?: KeyForm; fullUrl?: boolean; expired?: boolean } = {}): HostedMedia {
    const keyForm = opts.keyForm ?? 'raw';
    const key = randomBytes(16);
    const ciphertext = keyForm === 'none' ? Buffer.from(data) : encryptEcb(data, key);
    // Opaque and long, with base64's + / = so a client that forgets to URL-encode it fails here.
    const param = `${randomBytes(45).toString('base64')}+/=`;
    this.files.set(param, { body: ciphertext, expired: opts.expired ?? false });
    const aesKey = keyForm === 'raw' ? key.toString('base64') : keyForm === 'hex' ? Buffer.from(key.toString('hex')).toString('base64') : undefined;
    const media: CdnMedia = {
      encrypt_query_param: param,
      ...(aesKey ? { aes_key: aesKey } : {}),
      encrypt_type: keyForm === 'none' ? 0 : 1,
      ...(opts.fullUrl ? { full_url: this.downloadUrl(param) } : {}),
    };
    return { media, key, ciphertext };
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
