/**
 * Images attached to a chat message: the limits the gateway sets, checked in the browser before
 * anything is sent, so the user learns at once which file cannot go and why. Pure functions (no
 * DOM), shared by the composer and the tests.
 */

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

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

const typeList = 'png, jpeg, gif or webp';

/**
 * Why `file` cannot be attached, or undefined when it can: `attached` counts the images already
 * attached or still being read (slots) and their bytes.
 */
export function refuseFile(file: FileFacts, attached: { slots: number; bytes: number }): string | undefined {
  const name = `“${file.name || 'pasted image'}”`;
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    return `${name} is not attached: only ${typeList} images can be sent${file.type ? ` (it is ${file.type})` : ''}.`;
  }
  if (file.size > MAX_TOTAL_BYTES) {
    return `${name} is not attached: it is too large (${formatBytes(file.size)}; at most ${formatBytes(MAX_TOTAL_BYTES)} of images per message).`;
  }
  if (attached.slots >= MAX_ATTACHMENTS) return `${name} is not attached: at most ${MAX_ATTACHMENTS} images per message.`;
  if (attached.bytes + file.size > MAX_TOTAL_BYTES) {
    return `${name} is not attached: with it the images would total ${formatBytes(attached.bytes + file.size)} (at most ${formatBytes(MAX_TOTAL_BYTES)} per message).`;
  }
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
export function refuseBytes(name: string, bytes: Uint8Array): string | undefined {
  if (sniffImageType(bytes)) return undefined;
  return `“${name || 'pasted image'}” is not attached: its contents are not a ${typeList} image.`;
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
