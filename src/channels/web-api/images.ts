import { z } from 'zod';
import { CocoError } from '../../core/errors.js';
import { AGENT_IMAGE_TYPES, MAX_IMAGES, sniffImageType } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';

/**
 * Images a client sends with a message, inline: `images: [{ "data_base64": "…" }]`. They are kept
 * with the message in the mailbox (as a data URL), so any gateway process can hand them to the agent.
 */
export const chatImagesSchema = z
  .array(z.object({ data_base64: z.string().min(1).describe('The image file, base64-encoded (png, jpeg, gif or webp)') }).strict())
  .min(1)
  .max(MAX_IMAGES);

/** `.refine(...textOrImages)`: a chat message has text, images or both, never neither. */
export const textOrImages: [(b: { content?: string; images?: unknown }) => boolean, { path: string[]; message: string }] = [
  (b) => (b.content !== undefined && b.content !== '') || b.images !== undefined,
  { path: ['content'], message: 'is required (a non-empty string) unless the message has images' },
];

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Checks each image and turns it into a media reference; a bad one is a 400 naming its field. */
export function inlineImages(images: z.infer<typeof chatImagesSchema>): MediaRef[] {
  return images.map(({ data_base64 }, i) => {
    const field = `images.${i}.data_base64`;
    const clean = data_base64.replace(/\s+/g, '');
    if (clean.length % 4 !== 0 || !BASE64.test(clean)) throw invalidImage(field, 'is not base64');
    const type = sniffImageType(Buffer.from(clean.slice(0, 64), 'base64'));
    if (!type || !AGENT_IMAGE_TYPES.has(type)) throw invalidImage(field, `is not a png, jpeg, gif or webp image${type ? ` (${type})` : ''}`);
    return { kind: 'image' as const, ref: `data:${type};base64,${clean}`, mimeType: type };
  });
}

/** The message text with its images described, for agents (and history) that read text only. */
export function withImagesDescribed(text: string, count: number): string {
  if (count === 0) return text;
  return `${text} ${count === 1 ? '[image]' : `[${count} images]`}`.trim();
}

function invalidImage(field: string, message: string): CocoError {
  return new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field });
}
