import { CocoError, describeError } from '../../core/errors.js';
import { mediaType, readMediaBody, type MediaContent, type MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
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
  const what = `wecom_bot: ${media.kind} download`;
  let url: URL;
  try {
    url = new URL(media.ref);
  } catch {
    throw new CocoError('COCO_ERR_MEDIA', `${what}: the message carries no download URL`, { channel: 'wecom_bot' });
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: ctx.signal });
  } catch (err) {
    // The host only: the URL's query is the file's signed ticket.
    throw new CocoError('COCO_ERR_MEDIA', `${what}: ${url.host} unreachable: ${describeError(err)}`, { channel: 'wecom_bot', retryable: true, cause: err });
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 429) {
    await res.body?.cancel().catch(() => {});
    // WeCom serves the file for 5 minutes after the message; a second try will not bring it back.
    throw new CocoError('COCO_ERR_MEDIA', `${what}: HTTP ${res.status} (the URL expired: WeCom serves a robot's media for 5 minutes after the message)`, {
      channel: 'wecom_bot',
      retryable: false,
      statusCode: res.status,
    });
  }
  const body = await readMediaBody(res, ctx.maxBytes + PADDING, what).catch((err: unknown) => {
    // Its only error without a status is the size limit: said in the plaintext's terms, the limit the caller set.
    if (err instanceof CocoError && err.statusCode === undefined) throw tooLarge(what, ctx.maxBytes, `over ${ctx.maxBytes + PADDING} encrypted`);
    throw err;
  });
  if (!media.key) {
    // No aeskey came with the message: the bytes as served, as the SDK's downloadFile does.
    return limited({ data: body, mimeType: mediaType(body, res.headers.get('content-type')) }, ctx.maxBytes, what);
  }
  let data: Buffer;
  try {
    data = (await loadSdk()).decryptFile(body, media.key);
  } catch (err) {
    throw new CocoError('COCO_ERR_MEDIA', `${what}: ${body.length} bytes could not be decrypted with the message's aeskey (${describeError(err).replace(/\. This may .*$/, '')})`, {
      channel: 'wecom_bot',
      retryable: false,
    });
  }
  // The served type describes the ciphertext; the type is the decrypted bytes' own.
  return limited({ data, mimeType: mediaType(data, undefined) }, ctx.maxBytes, what);
}

function limited(content: MediaContent, maxBytes: number, what: string): MediaContent {
  if (content.data.length > maxBytes) throw tooLarge(what, maxBytes, String(content.data.length));
  return content;
}

const tooLarge = (what: string, maxBytes: number, size: string) =>
  new CocoError('COCO_ERR_MEDIA', `${what}: larger than ${maxBytes} bytes (${size})`, { channel: 'wecom_bot', retryable: false });
