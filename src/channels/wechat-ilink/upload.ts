import { createHash, randomBytes } from 'node:crypto';
import { undici } from '../shared/http-json.js';
import { guard, IlinkError, type CdnMedia, type IlinkApi, type UploadTarget } from './api.js';
import { encryptIlinkMedia } from './media.js';

/**
 * Puts a reply image on WeChat's CDN the way the official plugin does (protocols: personal WeChat, iLink):
 * a fresh AES-128 key encrypts the bytes (ECB, PKCS#7); `getuploadurl` is told the plaintext's size and md5,
 * the ciphertext's size and the key (hex); the ciphertext is POSTed to `{cdn}/upload?encrypted_query_param=…&filekey=…`
 * (or the `upload_full_url` iLink gave), and the CDN answers the file's download parameter in `x-encrypted-param`.
 */

/** A 10 MiB image over a slow uplink takes longer than an API call may. */
const UPLOAD_TIMEOUT_MS = 60_000;
/** getuploadurl's `media_type` for an image. */
const MEDIA_IMAGE = 1;

export interface UploadedImage {
  /** The image item's `media`. */
  media: CdnMedia;
  /** The image item's `mid_size`. */
  ciphertextSize: number;
}

export async function uploadImage(
  api: IlinkApi,
  opts: { cdnBaseUrl: string; to: string; data: Buffer; signal?: AbortSignal },
): Promise<UploadedImage> {
  const key = randomBytes(16);
  const ciphertext = encryptIlinkMedia(opts.data, key);
  const filekey = randomBytes(16).toString('hex');
  const target = await api
    .getUploadUrl({
      filekey,
      mediaType: MEDIA_IMAGE,
      to: opts.to,
      rawsize: opts.data.length,
      rawfilemd5: createHash('md5').update(opts.data).digest('hex'),
      filesize: ciphertext.length,
      aeskeyHex: key.toString('hex'),
    })
    .catch((err: unknown) => {
      throw named('getuploadurl', err);
    });
  const param = await postCiphertext(uploadUrl(target, opts.cdnBaseUrl, filekey), ciphertext, opts.signal);
  return { media: { encrypt_query_param: param, aes_key: outboundAesKey(key), encrypt_type: 1 }, ciphertextSize: ciphertext.length };
}

/**
 * `media.aes_key` of a sent item: base64 of the key's 32 hex digits (44 characters), as the official plugin sends
 * every media item, not base64 of the 16 raw bytes that inbound images carry.
 */
export function outboundAesKey(key: Buffer): string {
  return Buffer.from(key.toString('hex'), 'latin1').toString('base64');
}

export function uploadUrl(target: UploadTarget, cdnBaseUrl: string, filekey: string): string {
  if ('uploadFullUrl' in target) return target.uploadFullUrl;
  const base = cdnBaseUrl.replace(/\/+$/, '');
  return `${base}/upload?encrypted_query_param=${encodeURIComponent(target.uploadParam)}&filekey=${encodeURIComponent(filekey)}`;
}

/**
 * POSTs the ciphertext and returns `x-encrypted-param`. A non-2xx answer is an `http` IlinkError quoting the CDN's
 * `x-error-message` (never the URL: it carries the signed parameter).
 */
async function postCiphertext(url: string, body: Buffer, signal?: AbortSignal): Promise<string> {
  const answer = await guard(async () => {
    const { request, pool } = await undici();
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      dispatcher: pool,
      headersTimeout: UPLOAD_TIMEOUT_MS,
      bodyTimeout: UPLOAD_TIMEOUT_MS,
      signal,
    });
    await res.body.dump();
    return { status: res.statusCode, headers: res.headers };
  }, UPLOAD_TIMEOUT_MS);
  if (answer.status < 200 || answer.status >= 300) {
    const reason = header(answer.headers, 'x-error-message')?.slice(0, 200);
    throw new IlinkError(`CDN upload answered HTTP ${answer.status}${reason ? ` (${reason})` : ''}`, 'http', answer.status);
  }
  const param = header(answer.headers, 'x-encrypted-param');
  if (!param) throw new IlinkError('CDN upload answered without the x-encrypted-param header', 'malformed');
  return param;
}

/** The same failure, saying which call it was (a send's error otherwise reads as if sendmessage failed). */
function named(call: string, err: unknown): unknown {
  return err instanceof IlinkError ? new IlinkError(`${call}: ${err.message}`, err.kind, err.code) : err;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
