/**
 * Images attached to a chat message: the limits the gateway sets, checked in the browser before
 * anything is sent, so the user learns at once which file cannot go and why. Pure functions (no
 * DOM), shared by the composer and the tests.
 */

import en from '../../i18n/en/chat.js';

/** The types the gateway takes (it reads the type from the bytes; the browser's file.type comes first). */
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export const ACCEPT = IMAGE_TYPES.join(',');
export const MAX_ATTACHMENTS = 4;
/**
 * The images of one message together. The gateway takes JSON bodies up to 1 MiB and base64 makes
 * every 3 bytes 4: 700 KiB of images is ~933 KiB of base64, which leaves room for the text.
 */
export const MAX_TOTAL_BYTES = 700 * 1024;

export interface Attachment {
  id: string;
  name: string;
  /** The type read from the file's bytes. */
  type: string;
  size: number;
  base64: string;
  /** A data: URL of the image, for its thumbnail (the panel's CSP allows data: images, not blob:). */
  url: string;
}

/** What the browser tells about a picked or pasted file before it is read. */
export interface FileFacts {
  name: string;
  size: number;
  type: string;
}

/**
 * The texts of this file (`file.*` of the chat catalog) in one language: the panel passes its
 * translation; without one they are English.
 */
export type FileText = (key: keyof typeof en.file, values?: Record<string, string | number>) => string;

const english: FileText = (key, values = {}) => en.file[key].replace(/\{\{(\w+)\}\}/g, (_, name: string) => String(values[name] ?? ''));

export function formatBytes(n: number, text: FileText = english): string {
  if (n < 1024) return text('bytes', { n });
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** The name a file is shown by: a pasted image has none. */
export function fileName(name: string, text: FileText = english): string {
  return name || text('pastedImage');
}

/**
 * Why `file` cannot be attached, or undefined when it can: `attached` counts the images already
 * attached or still being read (slots) and their bytes.
 */
export function refuseFile(file: FileFacts, attached: { slots: number; bytes: number }, text: FileText = english): string | undefined {
  const name = fileName(file.name, text);
  const max = formatBytes(MAX_TOTAL_BYTES, text);
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    return file.type ? text('notImageType', { name, type: file.type }) : text('notImage', { name });
  }
  if (file.size > MAX_TOTAL_BYTES) return text('tooLarge', { name, size: formatBytes(file.size, text), max });
  if (attached.slots >= MAX_ATTACHMENTS) return text('tooMany', { name, max: MAX_ATTACHMENTS });
  if (attached.bytes + file.size > MAX_TOTAL_BYTES) return text('total', { name, size: formatBytes(attached.bytes + file.size, text), max });
  return undefined;
}

/** The image type the bytes say (what the gateway checks), or undefined for anything else. */
export function sniffImageType(b: Uint8Array): (typeof IMAGE_TYPES)[number] | undefined {
  const at = (offset: number, bytes: number[]) => bytes.every((x, i) => b[offset + i] === x);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (at(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (at(0, [0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return undefined;
}

/** Why the read bytes of `name` cannot be sent, or undefined when they are one of the four types. */
export function refuseBytes(name: string, bytes: Uint8Array, text: FileText = english): string | undefined {
  if (sniffImageType(bytes)) return undefined;
  return text('notImageBytes', { name: fileName(name, text) });
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode(...all) would overflow the call stack on a large file.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

let nextId = 0;

/** An attachment of bytes already checked by refuseBytes. */
export function makeAttachment(name: string, bytes: Uint8Array): Attachment {
  const type = sniffImageType(bytes) ?? 'application/octet-stream';
  const base64 = toBase64(bytes);
  return { id: `img${++nextId}`, name, type, size: bytes.length, base64, url: `data:${type};base64,${base64}` };
}

/** The files among pasted clipboard items (a text paste has none). */
export function pastedFiles<F>(items: ArrayLike<{ kind: string; getAsFile(): F | null }>): F[] {
  const files: F[] = [];
  for (const item of Array.from(items)) {
    if (item.kind !== 'file') continue;
    const file = item.getAsFile();
    if (file) files.push(file);
  }
  return files;
}
