import type { Clock } from '../../core/clock.js';
import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import { loadReplyImage, type MediaContent } from '../../core/media.js';
import type { ReplyImage } from '../../core/message.js';

/** What a platform shows as an image message, as a channel checks it before uploading. */
export interface ImageRules {
  channel: string;
  /** The platform's name in refusals ("WeChat", "WeCom"). */
  platform: string;
  /** Image types, as `loadReplyImage` reads them from the bytes. */
  types: ReadonlySet<string>;
  /** The types as a person reads them ("png, jpeg, gif or webp"). */
  typeNames: string;
  maxBytes: number;
  /** The platform refuses files of this many bytes or fewer. */
  tooSmallBytes?: number;
}

/**
 * The reply image's bytes for one channel: loaded (`loadReplyImage`) and checked against what the
 * platform shows. A failure is a COCO_ERR_CHANNEL_SEND naming the channel: for good when the image
 * will never do (not an image, a type or size the platform refuses), retryable when the download
 * may pass. Checking here costs no upload the platform would refuse.
 */
export async function loadChannelImage(image: ReplyImage, rules: ImageRules, deps: { clock: Clock; signal: AbortSignal }): Promise<MediaContent> {
  const content = await loadForChannel(image, rules.channel, deps);
  checkChannelImage(content, rules);
  return content;
}

/** `loadReplyImage`, its failure as a COCO_ERR_CHANNEL_SEND naming the channel that keeps its retryability. */
export async function loadForChannel(image: ReplyImage, channel: string, deps: { clock: Clock; signal: AbortSignal }): Promise<MediaContent> {
  try {
    return await loadReplyImage(image, deps);
  } catch (err) {
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `${channel}: ${describeError(err)}`, {
      channel,
      retryable: isCocoError(err) ? err.retryable : true,
      ...(isCocoError(err) && err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      cause: err,
    });
  }
}

/** Refuses, for good, an image the platform would not show, naming the channel, the type and the size. */
export function checkChannelImage({ data, mimeType }: MediaContent, rules: ImageRules): void {
  const refuse = (why: string) =>
    new CocoError('COCO_ERR_CHANNEL_SEND', `${rules.channel}: reply image not sent: ${why}`, { channel: rules.channel, retryable: false });
  if (!rules.types.has(mimeType)) throw refuse(`${rules.platform} shows ${rules.typeNames} images; this one is ${mimeType} (${data.length} bytes)`);
  if (data.length > rules.maxBytes) throw refuse(`${data.length} bytes is over ${rules.platform}'s limit of ${rules.maxBytes}`);
  if (data.length <= (rules.tooSmallBytes ?? 0)) throw refuse(`${data.length} bytes is too small for ${rules.platform}`);
}
