/**
 * Media upload (protocols.md §7.4, the official plugin's `src/cdn/upload.ts` and `cdn-upload.ts`):
 * `getuploadurl` declares the file (plaintext size and md5, ciphertext size, the AES key as hex) and answers an
 * `upload_param` (or an `upload_full_url`); the client then POSTs the AES-128-ECB ciphertext to
 * `{cdn}/upload?encrypted_query_param=<upload_param>&filekey=<filekey>` and reads the download parameter from the
 * `x-encrypted-param` response header. The CDN refuses with a 4xx and `x-error-message`, which the plugin quotes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isRecord } from '../http.js';
import { decryptEcb, keyOfAesKey, paddedSize, type Cdn } from './cdn.js';
import type { ApiAnswer } from './outbound.js';
import type { UploadedMedia } from './types.js';

/** `media_type` of getuploadurl: 1 image, 2 video, 3 file, 4 voice. */
const MEDIA_TYPES = new Set([1, 2, 3, 4]);
const HEX_KEY = /^[0-9a-fA-F]{32}$/;
const MD5 = /^[0-9a-fA-F]{32}$/;

/** Which field getuploadurl answers with; the plugin takes `upload_full_url` when both are there. */
export type UploadUrlForm = 'upload_param' | 'upload_full_url';

/** What getuploadurl declared, kept under its upload_param until the upload comes. */
interface Declared {
  filekey: string;
  mediaType: number;
  to: string;
  rawsize: number;
  rawfilemd5: string;
  filesize: number;
  key: Buffer;
}

export interface CdnAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const fail = (ret: number, errmsg: string): ApiAnswer => ({ ret, errcode: ret, errmsg });
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export class Uploads {
  /** Uploads the CDN took, oldest first. */
  readonly done: UploadedMedia[] = [];
  form: UploadUrlForm = 'upload_param';
  private readonly declared = new Map<string, Declared>();

  constructor(
    private readonly cdn: Cdn,
    private readonly knownUsers: Set<string>,
  ) {}

  /** `getuploadurl`: checks the declaration and answers where to upload. */
  getUploadUrl(body: Record<string, unknown>): ApiAnswer {
    const problem = declarationProblem(body, this.knownUsers);
    if (problem) return fail(-1, problem);
    const declared: Declared = {
      filekey: body.filekey as string,
      mediaType: body.media_type as number,
      to: body.to_user_id as string,
      rawsize: body.rawsize as number,
      rawfilemd5: (body.rawfilemd5 as string).toLowerCase(),
      filesize: body.filesize as number,
      key: Buffer.from(body.aeskey as string, 'hex'),
    };
    const param = randomBytes(60).toString('base64');
    this.declared.set(param, declared);
    if (this.form === 'upload_full_url') return { ret: 0, upload_full_url: this.uploadUrl(param, declared.filekey) };
    return { ret: 0, upload_param: param };
  }

  /** `POST {cdn}/upload?encrypted_query_param=…&filekey=…`: the ciphertext must decrypt to what was declared. */
  upload(method: string, url: URL, body: Buffer): CdnAnswer {
    const refuse = (status: number, message: string): CdnAnswer => ({
      status,
      headers: { 'content-type': 'text/plain', 'x-error-message': message },
      body: Buffer.from(message),
    });
    if (method !== 'POST') return refuse(405, 'upload takes POST');
    const param = url.searchParams.get('encrypted_query_param');
    if (!param) return refuse(400, 'missing encrypted_query_param');
    const declared = this.declared.get(param);
    if (!declared) return refuse(400, 'encrypted_query_param is not an upload_param getuploadurl issued');
    if (url.searchParams.get('filekey') !== declared.filekey) return refuse(400, 'filekey does not match the one given to getuploadurl');
    if (body.length !== declared.filesize) return refuse(400, `ciphertext is ${body.length} bytes, getuploadurl declared filesize ${declared.filesize}`);
    let plain: Buffer;
    try {
      plain = decryptEcb(body, declared.key);
    } catch {
      return refuse(400, 'the body does not decrypt (AES-128-ECB, PKCS#7) with the aeskey given to getuploadurl');
    }
    if (plain.length !== declared.rawsize) return refuse(400, `plaintext is ${plain.length} bytes, getuploadurl declared rawsize ${declared.rawsize}`);
    const md5 = createHash('md5').update(plain).digest('hex');
    if (md5 !== declared.rawfilemd5) return refuse(400, `plaintext md5 ${md5} is not the rawfilemd5 given to getuploadurl`);

    const downloadParam = this.cdn.store(Buffer.from(body), declared.key);
    this.done.push({ filekey: declared.filekey, to: declared.to, mediaType: declared.mediaType, data: plain, downloadParam, at: Date.now() });
    return { status: 200, headers: { 'x-encrypted-param': downloadParam, 'content-length': '0' }, body: Buffer.alloc(0) };
  }

  /**
   * The file an outbound image item names, decrypted with the key its `aes_key` carries; or why sendmessage must
   * refuse it: no such file, expired, uploaded for another user, a key that is not in either base64 form or not
   * the file's, a `mid_size` that is not the ciphertext size.
   */
  sentImage(imageItem: Record<string, unknown>, to: string): { image: { data: Buffer; encryptQueryParam: string } } | { problem: string } {
    const at = 'msg.item_list[0].image_item';
    const media = imageItem.media;
    if (!isRecord(media)) return { problem: `${at}.media must be an object` };
    const param = media.encrypt_query_param;
    if (typeof param !== 'string' || param === '') return { problem: `${at}.media.encrypt_query_param must be a non-empty string` };
    const file = this.cdn.file(param);
    if (!file) return { problem: `${at}.media.encrypt_query_param is not a file on the CDN (upload it first: getuploadurl, then POST {cdn}/upload)` };
    if (file.expired) return { problem: `${at}.media.encrypt_query_param names an expired file` };
    const owner = this.done.find((u) => u.downloadParam === param)?.to;
    if (owner !== undefined && owner !== to) return { problem: `${at}.media was uploaded for ${owner}, not ${to}` };
    if (!file.key) return { problem: `${at}.media names a file stored without encryption; upload it AES-128-ECB encrypted` };
    if (media.encrypt_type !== 1) return { problem: `${at}.media.encrypt_type must be 1 (AES-128-ECB), got ${JSON.stringify(media.encrypt_type)}` };
    const key = typeof media.aes_key === 'string' ? keyOfAesKey(media.aes_key) : undefined;
    if (!key) return { problem: `${at}.media.aes_key must be base64 of the 16-byte key or of its 32 hex digits` };
    if (!key.equals(file.key)) return { problem: `${at}.media.aes_key is not the key the file was encrypted with` };
    const midSize = imageItem.mid_size;
    if (midSize !== undefined && midSize !== file.body.length) {
      return { problem: `${at}.mid_size must be the ciphertext size ${file.body.length}, got ${JSON.stringify(midSize)}` };
    }
    return { image: { data: decryptEcb(file.body, key), encryptQueryParam: param } };
  }

  private uploadUrl(param: string, filekey: string): string {
    return `${this.cdn.baseUrl()}/upload?encrypted_query_param=${encodeURIComponent(param)}&filekey=${encodeURIComponent(filekey)}`;
  }
}

/** Why a getuploadurl body is refused, or undefined. */
function declarationProblem(body: Record<string, unknown>, knownUsers: Set<string>): string | undefined {
  const { filekey, media_type: mediaType, to_user_id: to, rawsize, rawfilemd5, filesize, aeskey } = body;
  if (typeof filekey !== 'string' || filekey === '') return 'filekey must be a non-empty string';
  if (typeof mediaType !== 'number' || !MEDIA_TYPES.has(mediaType)) return `media_type must be 1 (image), 2 (video), 3 (file) or 4 (voice), got ${JSON.stringify(mediaType)}`;
  if (typeof to !== 'string' || to === '') return 'to_user_id must be a non-empty string';
  if (!knownUsers.has(to)) return `to_user_id ${to} is not a user of this bot`;
  if (!isCount(rawsize)) return `rawsize must be a positive integer, got ${JSON.stringify(rawsize)}`;
  if (typeof rawfilemd5 !== 'string' || !MD5.test(rawfilemd5)) return 'rawfilemd5 must be the md5 of the plaintext as 32 hex digits';
  if (!isCount(filesize)) return `filesize must be a positive integer, got ${JSON.stringify(filesize)}`;
  if (filesize !== paddedSize(rawsize)) return `filesize must be the AES-128-ECB ciphertext size, ${paddedSize(rawsize)} for rawsize ${rawsize}, got ${filesize}`;
  if (typeof aeskey !== 'string' || !HEX_KEY.test(aeskey)) return 'aeskey must be the 16-byte AES key as 32 hex digits';
  // Images and videos need a thumbnail unless the client says it sends none, as the plugin always does.
  if ((mediaType === 1 || mediaType === 2) && body.no_need_thumb !== true) {
    return 'an image or video needs thumb_rawsize, thumb_rawfilemd5 and thumb_filesize unless no_need_thumb is true (this fake takes no thumbnails)';
  }
  return undefined;
}
