import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CocoError, describeError } from '../../core/errors.js';
import { mediaType, type MediaContent, type MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
import { downloadSealed, withinLimit } from '../shared/sealed-media.js';
import type { IlinkChannelConfig } from './config.js';

/**
 * Downloads media a user sent the bot from WeChat's CDN: `GET {cdn_base_url}/download?encrypted_query_param=…`
 * (or the `full_url` iLink gave), no token needed. The body is AES-128-ECB encrypted with PKCS#7
 * padding, with the item's own 16-byte key (`MediaRef.key`, see parse.ts). Needs only the entry's
 * config: any gateway process can fetch it.
 */

/** AES block: the ciphertext is the plaintext padded up to the next multiple of 16 bytes. */
const BLOCK = 16;
const HEX_KEY = /^[0-9a-fA-F]{32}$/;

export async function fetchIlinkMedia(media: MediaRef, ctx: MediaContext<IlinkChannelConfig>): Promise<MediaContent> {
  const opts = { channel: 'wechat_ilink', what: `wechat_ilink: ${media.kind} download` };
  const key = media.key === undefined ? undefined : ilinkAesKey(media.key, opts.what);
  const url = new URL(downloadUrl(media.ref, ctx.config.cdn_base_url));
  const { body, servedType } = await downloadSealed(url, ctx, {
    ...opts,
    where: `CDN ${url.host}`,
    padding: BLOCK,
    // The CDN names the problem in x-error-message (the official plugin reads it); asking again will not change it.
    gone: (res) => {
      const reason = res.headers.get('x-error-message')?.slice(0, 200);
      return `CDN answered HTTP ${res.status}${reason ? ` ${reason}` : ''} (the media expired or its parameter is not known)`;
    },
  });
  // Without a key the CDN holds the file as is (older plain images, as the official plugin reads them).
  const data = withinLimit(key ? decrypt(body, key, opts.what) : body, ctx.maxBytes, opts);
  // A decrypted body's served type describes the ciphertext; its own bytes say what it is.
  return { data, mimeType: mediaType(data, key ? undefined : servedType) };
}

/** The encrypted parameter becomes a CDN download URL; a full URL iLink gave is used as is. */
export function downloadUrl(ref: string, cdnBaseUrl: string): string {
  if (/^https?:\/\//i.test(ref)) return ref;
  return `${cdnBaseUrl.replace(/\/+$/, '')}/download?encrypted_query_param=${encodeURIComponent(ref)}`;
}

/**
 * The 16-byte AES key from the forms iLink sends: an image's `aeskey` (32 hex digits), or a media's
 * `aes_key`, which is base64 of either the 16 raw bytes (images) or of those 32 hex digits (files, voice, video).
 */
export function ilinkAesKey(value: string, what = 'wechat_ilink'): Buffer {
  if (HEX_KEY.test(value)) return Buffer.from(value, 'hex');
  const decoded = Buffer.from(value, 'base64');
  if (decoded.length === BLOCK) return decoded;
  const text = decoded.toString('latin1');
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
  // The key itself never goes into the message.
  throw new CocoError('COCO_ERR_MEDIA', `${what}: the message's AES key is neither 32 hex digits nor base64 of 16 bytes or of 32 hex digits (${value.length} characters)`, {
    channel: 'wechat_ilink',
    retryable: false,
  });
}

/** AES-128-ECB with PKCS#7 padding, as WeChat's CDN stores files (encrypt_type 1): what an upload sends. */
export function encryptIlinkMedia(plaintext: Buffer, key: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}

/** AES-128-ECB with PKCS#7 padding, as WeChat's CDN encrypts (encrypt_type 1). */
export function decryptIlinkMedia(ciphertext: Buffer, key: Buffer): Buffer {
  const decipher = createDecipheriv('aes-128-ecb', key, null);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

function decrypt(ciphertext: Buffer, key: Buffer, what: string): Buffer {
  try {
    return decryptIlinkMedia(ciphertext, key);
  } catch (err) {
    throw new CocoError('COCO_ERR_MEDIA', `${what}: ${ciphertext.length} bytes could not be decrypted with the message's AES key (${describeError(err)})`, {
      channel: 'wechat_ilink',
      retryable: false,
    });
  }
}
