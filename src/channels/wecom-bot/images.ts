import { createHash } from 'node:crypto';
import { MAX_IMAGE_BYTES } from '../../core/media.js';
import type { ImageRules } from '../shared/reply-image.js';

/**
 * Images in the robot's replies. WeCom shows JPG and PNG of at most 10 MB, both in a stream's finishing
 * frame (`msg_item`, base64 + md5, at most 10) and as an uploaded image (`aibot_upload_media_*` → media_id,
 * then `aibot_send_msg` `{msgtype: image, image: {media_id}}`), protocols.md §3.2 and the SDK's types.
 */

/** JPG and PNG; "图片（base64编码前）最大不能超过10M" (msg_item), the same for an uploaded image (素材管理: 10MB). */
export const WECOM_BOT_IMAGES: ImageRules = {
  channel: 'wecom_bot',
  platform: 'WeCom',
  types: new Set(['image/png', 'image/jpeg']),
  typeNames: 'jpg or png',
  maxBytes: MAX_IMAGE_BYTES,
};

/** WeCom keeps an uploaded media_id for 3 days; one older than this is uploaded again rather than risked. */
export const MEDIA_ID_REUSE_MS = 3 * 24 * 3600_000 - 3600_000;

/** A WeCom refusal of the image itself (media type, file type, file or image size): sending it again changes nothing. */
export const IMAGE_REFUSED_CODES: ReadonlySet<number> = new Set([40004, 40005, 40006, 40009]);

/** 40007: the media_id is unknown or expired; the next try uploads the image again. */
export const INVALID_MEDIA_ID = 40007;

/** One `msg_item` of a stream's finishing frame (the SDK's ReplyMsgItem). */
export function streamImageItem(data: Buffer) {
  return { msgtype: 'image' as const, image: { base64: data.toString('base64'), md5: createHash('md5').update(data).digest('hex') } };
}
