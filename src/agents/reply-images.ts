import { z } from 'zod';
import { CocoError } from '../core/errors.js';
import { MAX_IMAGE_BYTES, MAX_REPLY_IMAGES } from '../core/media.js';
import type { ReplyImage } from '../core/message.js';

const alt = z.string().max(1_000).optional();

/** An image in a service's answer, as the HTTP agent protocol spells it (as the request's images are spelled). */
const urlImage = z.object({ url: z.url({ protocol: /^https?$/ }), alt }).strict();
const dataImage = z
  .object({
    // Base64 of at most MAX_IMAGE_BYTES, without a data: prefix; named as in the request's images.
    data_base64: z.string().max(Math.ceil(MAX_IMAGE_BYTES / 3) * 4, `larger than ${MAX_IMAGE_BYTES} bytes`).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'not base64'),
    mime_type: z.string().regex(/^image\/[a-z0-9.+-]+$/i, 'not an image type'),
    alt,
  })
  .strict();

/**
 * The `images` of a service's answer (absent: none), or a CocoError naming the field that is wrong.
 * A malformed list is a bug in the service: it is not retried.
 */
export function parseReplyImages(images: unknown, where: string): ReplyImage[] {
  if (images === undefined || images === null) return [];
  const bad = (path: (string | number | symbol)[], why: string) =>
    new CocoError('COCO_ERR_AGENT_FAILED', `${where}: "${['images', ...path].map(String).join('.')}" ${why}`, { retryable: false });
  if (!Array.isArray(images)) throw bad([], 'must be an array');
  if (images.length > MAX_REPLY_IMAGES) throw bad([], `holds ${images.length} images; at most ${MAX_REPLY_IMAGES}`);
  return images.map((item: unknown, i) => {
    // Chosen by key rather than by a union, so the error names the field that is wrong.
    const schema = typeof item === 'object' && item !== null && 'url' in item ? urlImage : dataImage;
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw bad([i, ...issue.path], `is invalid: ${issue.message}`);
    }
    const p = parsed.data;
    const image: ReplyImage = 'url' in p ? { url: p.url } : { data: p.data_base64, mimeType: p.mime_type.toLowerCase() };
    return p.alt ? { ...image, alt: p.alt } : image;
  });
}
