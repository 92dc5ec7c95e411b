import type { Clock } from '../../core/clock.js';
import { CocoError } from '../../core/errors.js';
import { MAX_IMAGE_BYTES, sniffImageType, type MediaContent } from '../../core/media.js';
import type { ReplyImage } from '../../core/message.js';
import { loadForChannel } from '../shared/reply-image.js';

/**
 * An agent's reply image, ready for `POST /open-apis/im/v1/images`: its bytes, checked against what
 * the upload takes (JPEG, PNG, WEBP, GIF, TIFF, BMP or ICO; not empty; at most 10 MB) so that an
 * image Feishu would refuse is refused here, once, with the reason, instead of uploaded and retried.
 */

/** Largest upload (the API's "不能超过 10 MB"; the gateway loads no larger image anyway). */
export const FEISHU_IMAGE_MAX_BYTES = MAX_IMAGE_BYTES;
/** The formats the upload API lists. HEIC is listed in newer docs only: not relied on. */
export const FEISHU_IMAGE_FORMATS = 'JPEG, PNG, WEBP, GIF, TIFF, BMP or ICO';

/** The image bytes and type to upload; a non-retryable COCO_ERR_CHANNEL_SEND when Feishu would refuse them. */
export async function loadFeishuReplyImage(image: ReplyImage, deps: { clock: Clock; signal: AbortSignal }): Promise<MediaContent> {
  const content = await loadForChannel(image, 'feishu', deps);
  return { data: content.data, mimeType: uploadableType(content) };
}

/** The type Feishu reads the bytes as, from their signature; throws for bytes it does not take. */
function uploadableType({ data, mimeType }: MediaContent): string {
  if (data.length === 0) throw refused('the reply image is empty');
  if (data.length > FEISHU_IMAGE_MAX_BYTES) throw refused(`the reply image is ${data.length} bytes, over Feishu's limit of ${FEISHU_IMAGE_MAX_BYTES}`);
  const type = feishuImageType(data);
  if (!type) throw refused(`cannot send the reply image (${mimeType}): Feishu takes ${FEISHU_IMAGE_FORMATS} images only`);
  return type;
}

/** JPEG, PNG, GIF, WEBP, BMP (the shared sniffer), TIFF or ICO by signature; undefined for anything else. */
export function feishuImageType(data: Buffer): string | undefined {
  const common = sniffImageType(data);
  if (common) return common;
  if (data.length >= 4 && (data.subarray(0, 4).toString('latin1') === 'II*\0' || data.subarray(0, 4).toString('latin1') === 'MM\0*')) return 'image/tiff';
  // ICONDIR: reserved 0, type 1 (icon), at least one image.
  if (data.length >= 6 && data.readUInt16LE(0) === 0 && data.readUInt16LE(2) === 1 && data.readUInt16LE(4) > 0) return 'image/x-icon';
  return undefined;
}

function refused(reason: string): CocoError {
  return new CocoError('COCO_ERR_CHANNEL_SEND', `feishu: ${reason}`, { channel: 'feishu', retryable: false });
}
