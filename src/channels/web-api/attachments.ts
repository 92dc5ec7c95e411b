import { z } from 'zod';
import { CocoError } from '../../core/errors.js';
import { AGENT_IMAGE_TYPES, MAX_FILES, MAX_IMAGES, OCTET_STREAM, sniffImageType, typeOfName } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';

/**
 * Images a client sends with a message, inline: `images: [{ "data_base64": "…" }]`. They are kept
 * with the message in the mailbox (as a data URL), so any gateway process can hand them to the agent.
 */
export const chatImagesSchema = z
  .array(z.object({ data_base64: z.string().min(1).describe('The image file, base64-encoded (png, jpeg, gif or webp)') }).strict())
  .min(1)
  .max(MAX_IMAGES);

/**
 * Files a client sends with a message, inline: `files: [{ "name": "q3.pdf", "data_base64": "…" }]`,
 * for `http` agents with `files: true` (others read the description). Kept like images.
 */
export const chatFilesSchema = z
  .array(
    z
      .object({
        name: z.string().min(1).max(255).describe('The file name, shown to agents that read text only'),
        mime_type: z
          .string()
          .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a media type such as application/pdf')
          .optional()
          .describe('Its media type; by default the one the name implies, else application/octet-stream'),
        data_base64: z.string().min(1).describe('The file, base64-encoded'),
      })
      .strict(),
  )
  .min(1)
  .max(MAX_FILES);

/** `.refine(...textOrAttachments)`: a chat message has text, images, files, or some of each, never none. */
export const textOrAttachments: [(b: { content?: string; images?: unknown; files?: unknown }) => boolean, { path: string[]; message: string }] = [
  (b) => (b.content !== undefined && b.content !== '') || b.images !== undefined || b.files !== undefined,
  { path: ['content'], message: 'is required (a non-empty string) unless the message has images or files' },
];

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Checks each image and turns it into a media reference; a bad one is a 400 naming its field. */
export function inlineImages(images: z.infer<typeof chatImagesSchema>): MediaRef[] {
  return imagesAsData(images).map(({ data, mimeType }) => ({ kind: 'image' as const, ref: `data:${mimeType};base64,${data}`, mimeType }));
}

/** Checks each image: its base64 (whitespace dropped) and the type its bytes say; a bad one is a 400 naming its field. */
export function imagesAsData(images: z.infer<typeof chatImagesSchema>): { data: string; mimeType: string }[] {
  return images.map(({ data_base64 }, i) => {
    const field = `images.${i}.data_base64`;
    const clean = base64Of(data_base64, field);
    const type = sniffImageType(Buffer.from(clean.slice(0, 64), 'base64'));
    if (!type || !AGENT_IMAGE_TYPES.has(type)) throw invalid(field, `is not a png, jpeg, gif or webp image${type ? ` (${type})` : ''}`);
    return { data: clean, mimeType: type };
  });
}

/** Checks each file and turns it into a media reference; a bad one is a 400 naming its field. */
export function inlineFiles(files: z.infer<typeof chatFilesSchema>): MediaRef[] {
  return files.map(({ name, mime_type, data_base64 }, i) => {
    const clean = base64Of(data_base64, `files.${i}.data_base64`);
    const type = mime_type?.toLowerCase() ?? typeOfName(name) ?? OCTET_STREAM;
    return { kind: 'file' as const, ref: `data:${type};base64,${clean}`, mimeType: type, name };
  });
}

/** The message text with its images and files described, for agents (and history) that read text only. */
export function withAttachmentsDescribed(text: string, media: MediaRef[]): string {
  const images = media.filter((m) => m.kind === 'image').length;
  const parts = [text, ...(images === 0 ? [] : [images === 1 ? '[image]' : `[${images} images]`])];
  for (const m of media) if (m.kind === 'file') parts.push(`[file: ${m.name ?? 'file'}]`);
  return parts.join(' ').trim();
}

function base64Of(data: string, field: string): string {
  const clean = data.replace(/\s+/g, '');
  if (clean.length % 4 !== 0 || !BASE64.test(clean)) throw invalid(field, 'is not base64');
  return clean;
}

function invalid(field: string, message: string): CocoError {
  return new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: ${message}`, { statusCode: 400, field });
}
