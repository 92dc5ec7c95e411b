import { CocoError, describeError } from '../../core/errors.js';
import { mediaType, type MediaContent, type MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
import { downloadSealed, withinLimit } from '../shared/sealed-media.js';
import { loadSdk } from './channel.js';
import type { WecomBotChannelConfig } from './config.js';

/**
 * Downloads a file a member sent the robot over the long connection: a plain GET of the message's
 * `url` (valid 5 minutes after the message), whose body is AES-256-CBC encrypted with the file's own
 * `aeskey` (key = base64 decoded, IV = its first 16 bytes, PKCS#7 padded to 32), decrypted with the
 * official SDK's `decryptFile`. Needs nothing of the entry but the reference: any gateway process can
 * fetch it. (The robot's webhook mode, which decrypts with the EncodingAESKey, is not a mode of this channel.)
 */

/** Ciphertext is the plaintext padded up to the next multiple of 32 bytes. */
const PADDING = 32;

export async function fetchWecomBotMedia(media: MediaRef, ctx: MediaContext<WecomBotChannelConfig>): Promise<MediaContent> {
  const opts = { channel: 'wecom_bot', what: `wecom_bot: ${media.kind} download` };
  let url: URL;
  try {
    url = new URL(media.ref);
  } catch {
    throw new CocoError('COCO_ERR_MEDIA', `${opts.what}: the message carries no download URL`, { channel: 'wecom_bot' });
  }
  const { body, servedType, fileName } = await downloadSealed(url, ctx, {
    ...opts,
    where: url.host,
    padding: PADDING,
    // WeCom serves the file for 5 minutes after the message; a second try will not bring it back.
    gone: (res) => `HTTP ${res.status} (the URL expired: WeCom serves a robot's media for 5 minutes after the message)`,
  });
  if (!media.key) {
    // No aeskey came with the message: the bytes as served, as the SDK's downloadFile does.
    return { data: withinLimit(body, ctx.maxBytes, opts), mimeType: mediaType(body, servedType), ...named(fileName) };
  }
  let data: Buffer;
  try {
    data = (await loadSdk()).decryptFile(body, media.key);
  } catch (err) {
    throw new CocoError('COCO_ERR_MEDIA', `${opts.what}: ${body.length} bytes could not be decrypted with the message's aeskey (${describeError(err).replace(/\. This may .*$/, '')})`, {
      channel: 'wecom_bot',
      retryable: false,
    });
  }
  // The served type describes the ciphertext; the type is the decrypted bytes' own.
  return { data: withinLimit(data, ctx.maxBytes, opts), mimeType: mediaType(data, undefined), ...named(fileName) };
}

/** The callback names no file; the download does (`Content-Disposition`), as the SDK's downloadFile reads it. */
const named = (fileName: string | undefined) => (fileName ? { name: fileName } : {});
