import { parse as parseDisposition } from 'content-disposition';
import { lookup as lookupType } from 'mime-types';
import type { AgentProfile } from '../config/schema.js';
import { ByteBudget } from './byte-budget.js';
import type { Clock } from './clock.js';
import { CocoError, describeError } from './errors.js';
import type { Logger } from './logger.js';
import type { ChatMessage, MediaRef, ReplyImage } from './message.js';

/** Agents that take images: an OpenAI-compatible model or an HTTP service whose profile says `images: true`. */
export function readsImages(profile: AgentProfile): boolean {
  return 'images' in profile && profile.images === true;
}

/** Agents that take files, voice messages and videos: an HTTP service or an OpenAI-compatible model whose profile says `files: true`. */
export function readsFiles(profile: AgentProfile): boolean {
  return 'files' in profile && profile.files === true;
}

/** What a server says of bytes it does not name a type for. */
export const OCTET_STREAM = 'application/octet-stream';

/** The bytes of one media item a user sent, as the platform served them (decrypted where it encrypts). */
export interface MediaContent {
  data: Buffer;
  mimeType: string;
  /** The file's name, when the download gave one (`Content-Disposition`). */
  name?: string;
}

/** What a channel's `fetchMedia` gets besides the reference: the entry's resolved config and limits. */
export interface MediaContext<Config = unknown> {
  config: Config;
  /** The message the media came with (Feishu downloads by message id). */
  message: ChatMessage;
  clock: Clock;
  log: Logger;
  /** Aborted when the gateway gives up (timeout, shutdown). */
  signal: AbortSignal;
  /** Refuse a body larger than this: a download is abandoned as soon as it is exceeded. */
  maxBytes: number;
}

/** Fetches one media item of one entry's message; bound to the entry by the SceneKeeper. */
export type MediaFetcher = (media: MediaRef, message: ChatMessage, opts: { signal: AbortSignal; maxBytes: number }) => Promise<MediaContent>;

/** Images passed to an agent for one message, at most. */
export const MAX_IMAGES = 4;
/** Largest image passed to an agent (OpenAI accepts up to 20 MB; platforms send far smaller). */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
/** The image types vision models take (the chat-completions API and its compatibles). */
export const AGENT_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/**
 * Downloads running at once in this process: each may hold up to MAX_IMAGE_BYTES while it reads,
 * so a burst of photo messages (16 agents × 4 images) cannot take hundreds of MB at once.
 */
export const MAX_CONCURRENT_DOWNLOADS = 4;

/** Runs at most `limit` tasks at once, the others in arrival order. */
class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

const downloads = new Gate(MAX_CONCURRENT_DOWNLOADS);

/**
 * Bytes of media that agents may hold at once in this process: a message's images and files stay in
 * memory (and again as base64 in an http agent's POST) until its agent answers, so a burst of
 * messages with files waits here instead of growing the process without bound.
 */
export const AGENT_MEDIA_BUDGET_BYTES = 128 * 1024 * 1024;

const agentMedia = new ByteBudget(AGENT_MEDIA_BUDGET_BYTES);

/**
 * Takes from the process's media budget what a message's downloads for its agent may come to (each
 * item counted at its limit, as its size is known only once downloaded), before they start. Returns
 * the function that gives it back, once the agent has answered.
 */
export function reserveAgentMedia(message: ChatMessage, wants: { images: boolean; files: boolean }, signal: AbortSignal): Promise<() => void> {
  const media = message.media ?? [];
  const most = (w: Wanted<unknown>) => Math.min(media.filter(w.takes).length, w.max) * w.maxBytes;
  const bytes = (wants.images ? most(IMAGES) : 0) + (wants.files ? most(FILES) : 0);
  return bytes > 0 ? agentMedia.reserve(bytes, signal) : Promise.resolve(() => {});
}

/** Wait before the second try of a download; a platform's retry-after is honoured up to the cap. */
const RETRY_WAIT_MS = 500;
const MAX_RETRY_WAIT_MS = 5_000;
/** One download may take this long. */
export const MEDIA_TIMEOUT_MS = 15_000;

/** A media reference that holds the file itself (`data:<type>;base64,…`): inline Web API images, images kept on arrival. */
export function isInlineMedia(ref: string): boolean {
  return ref.startsWith('data:');
}

/** The bytes of an inline media reference; refuses one that is not a base64 data URL or is over `maxBytes`. */
export function readInlineMedia(media: MediaRef, maxBytes: number): MediaContent {
  const match = /^data:([\w/+.-]+);base64,(.*)$/s.exec(media.ref);
  if (!match) throw new CocoError('COCO_ERR_MEDIA', 'the media reference is not a base64 data URL', { retryable: false });
  const data = Buffer.from(match[2]!, 'base64');
  if (data.length > maxBytes) throw tooLarge('inline media', data.length, maxBytes);
  return { data, mimeType: match[1]! };
}

/** The same media, held inline: what a platform served, kept with the message (with the name the download gave, if the message had none). */
export function inlineMediaRef(media: MediaRef, content: MediaContent): MediaRef {
  const { key: _key, ...rest } = media;
  const name = rest.name ?? content.name;
  return { ...rest, ref: `data:${content.mimeType};base64,${content.data.toString('base64')}`, mimeType: content.mimeType, ...(name ? { name } : {}) };
}

/** The file name a download's `Content-Disposition` gives (RFC 6266, `filename*` first), if any. */
export function dispositionFileName(header: string | null): string | undefined {
  if (!header) return undefined;
  try {
    const name = parseDisposition(header).parameters.filename;
    return typeof name === 'string' && name.trim() !== '' ? name : undefined;
  } catch {
    return undefined; // malformed: no name, the download still counts
  }
}

/**
 * Reads a download's body, giving up as soon as it passes `maxBytes` (a Content-Length above it is
 * refused before reading). Non-2xx answers throw with the status, retryable for 5xx and 429.
 */
export async function readMediaBody(response: Response, maxBytes: number, what: string): Promise<Buffer> {
  if (!response.ok) {
    const excerpt = (await response.text().catch(() => '')).slice(0, 200);
    throw new CocoError('COCO_ERR_MEDIA', `${what}: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`, {
      retryable: response.status >= 500 || response.status === 429,
      statusCode: response.status,
    });
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(what, declared, maxBytes);
  }
  const parts: Buffer[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  for (;;) {
    const part = await reader?.read();
    if (!part || part.done) break;
    size += part.value.byteLength;
    if (size > maxBytes) {
      await reader!.cancel().catch(() => {});
      throw tooLarge(what, size, maxBytes);
    }
    parts.push(Buffer.from(part.value));
  }
  return Buffer.concat(parts, size);
}

function tooLarge(what: string, size: number, maxBytes: number): CocoError {
  return new CocoError('COCO_ERR_MEDIA', `${what}: larger than ${maxBytes} bytes (${size}${size > maxBytes ? '+' : ''})`, { retryable: false });
}

/**
 * The image type from the bytes' signature: platforms often serve images as
 * `application/octet-stream`, and a decrypted download has no type at all.
 */
export function sniffImageType(data: Buffer): string | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.length >= 6 && (data.subarray(0, 6).toString('latin1') === 'GIF87a' || data.subarray(0, 6).toString('latin1') === 'GIF89a')) return 'image/gif';
  if (data.length >= 12 && data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (data.length >= 2 && data[0] === 0x42 && data[1] === 0x4d) return 'image/bmp';
  return undefined;
}

/** The type of downloaded media: the bytes' signature first, then what the server said (without parameters). */
export function mediaType(data: Buffer, served: string | null | undefined, fallback = OCTET_STREAM): string {
  const declared = served?.split(';')[0]?.trim().toLowerCase();
  return sniffImageType(data) ?? (declared && declared !== OCTET_STREAM ? declared : fallback);
}

export interface FetchedImages {
  images: MediaContent[];
  /** One line per image that could not be passed, for the message log. */
  failures: string[];
}

/** Files passed to an agent for one message, at most (voice messages and videos count as files). */
export const MAX_FILES = 4;
/** Largest file passed to an agent: the POST carries it base64, a third larger. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

/** A file, voice message or video a user sent, downloaded for an agent that takes them (named by the message, else by the download). */
export interface AgentFile extends MediaContent {
  kind: 'file' | 'voice' | 'video';
}

export interface FetchedFiles {
  files: AgentFile[];
  /** One line per file that could not be passed, for the message log. */
  failures: string[];
}

type Deps = { clock: Clock; log: Logger; signal: AbortSignal };

/** The media type a file name implies (`report.pdf`: application/pdf), if any. */
export function typeOfName(name: string | undefined): string | undefined {
  return (name && lookupType(name)) || undefined;
}

/** What one kind of download for agents takes: which media, how many, how large, which types. */
interface Wanted<T> {
  noun: 'image' | 'file';
  takes: (ref: MediaRef) => boolean;
  max: number;
  maxBytes: number;
  /** The content as the agent gets it, or why it cannot have it. */
  accept: (content: MediaContent, ref: MediaRef, label: string) => T | { error: string };
}

const IMAGES: Wanted<MediaContent> = {
  noun: 'image',
  takes: (ref) => ref.kind === 'image',
  max: MAX_IMAGES,
  maxBytes: MAX_IMAGE_BYTES,
  accept: (content, _ref, label) =>
    AGENT_IMAGE_TYPES.has(content.mimeType)
      ? content
      : { error: `${label}: ${content.mimeType} (${content.data.length} bytes) is not a type models take (png, jpeg, gif, webp)` },
};

const FILES: Wanted<AgentFile> = {
  noun: 'file',
  takes: (ref) => ref.kind !== 'image',
  max: MAX_FILES,
  maxBytes: MAX_FILE_BYTES,
  accept: (content, ref, _label) => {
    const name = ref.name ?? content.name;
    const given = ref.mimeType === OCTET_STREAM ? undefined : ref.mimeType; // a kept file's says no more than its bytes
    return {
      kind: ref.kind as AgentFile['kind'],
      ...(name ? { name } : {}),
      data: content.data,
      // Where the download says nothing useful: the type the platform gave, or the one its name implies.
      mimeType: content.mimeType === OCTET_STREAM ? (given ?? typeOfName(name) ?? content.mimeType) : content.mimeType,
    };
  },
};

/**
 * Fetches a message's images for an agent that reads them: at most MAX_IMAGES, each tried twice
 * when the failure may pass. A failure never stops the answer: the agent still gets the text (which
 * describes the image), and the failure is reported.
 */
export async function fetchImages(message: ChatMessage, fetcher: MediaFetcher | undefined, deps: Deps): Promise<FetchedImages> {
  const { items, failures } = await fetchWanted(IMAGES, message, fetcher, deps);
  return { images: items, failures };
}

/** The same for the files, voice messages and videos of a message, for an agent that takes them (MAX_FILES). */
export async function fetchFiles(message: ChatMessage, fetcher: MediaFetcher | undefined, deps: Deps): Promise<FetchedFiles> {
  const { items, failures } = await fetchWanted(FILES, message, fetcher, deps);
  return { files: items, failures };
}

async function fetchWanted<T>(wanted: Wanted<T>, message: ChatMessage, fetcher: MediaFetcher | undefined, deps: Deps): Promise<{ items: T[]; failures: string[] }> {
  const refs = (message.media ?? []).filter(wanted.takes);
  const result: { items: T[]; failures: string[] } = { items: [], failures: [] };
  if (refs.length === 0) return result;
  if (!fetcher) {
    result.failures.push(`${refs.length} ${wanted.noun}(s) not passed: this channel cannot download media`);
    return result;
  }
  if (refs.length > wanted.max) result.failures.push(`${refs.length - wanted.max} ${wanted.noun}(s) over the limit of ${wanted.max} not passed`);
  // Failures name the item by its place, never by its reference: that may be a signed download URL.
  const outcomes = await Promise.all(refs.slice(0, wanted.max).map((ref, i) => fetchOne(wanted, ref, `${wanted.noun} ${i + 1}`, message, fetcher, deps)));
  for (const outcome of outcomes) {
    if (outcome && typeof outcome === 'object' && 'error' in outcome) result.failures.push(outcome.error);
    else result.items.push(outcome);
  }
  return result;
}

async function fetchOne<T>(
  wanted: Wanted<T>,
  ref: MediaRef,
  label: string,
  message: ChatMessage,
  fetcher: MediaFetcher,
  deps: Deps,
): Promise<T | { error: string }> {
  let last: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    if (deps.signal.aborted) break;
    try {
      const content = await downloads.run(() => fetchWithin(MEDIA_TIMEOUT_MS, wanted.maxBytes, ref, message, fetcher, deps));
      return wanted.accept(content, ref, label);
    } catch (err) {
      last = err;
      if (!(err instanceof CocoError && err.retryable) || attempt === 2) break;
      const waitMs = Math.min(err.retryAfterMs ?? RETRY_WAIT_MS, MAX_RETRY_WAIT_MS);
      deps.log.debug({ err: describeError(err), attempt, waitMs }, `${wanted.noun} download failed; trying again`);
      // The platform's own wait when it names one (a rate limit), within reason: the user is waiting too.
      if (!(await deps.clock.sleep(waitMs, deps.signal).then(() => true, () => false))) break;
    }
  }
  return { error: `${label}: ${describeError(last ?? 'gateway stopping')}` };
}

/**
 * One media item, downloaded as an agent would get it (a shared download slot, MEDIA_TIMEOUT_MS,
 * MAX_IMAGE_BYTES) but tried once: for an operator looking at a message, who can ask again.
 */
export function fetchMediaItem(
  ref: MediaRef,
  message: ChatMessage,
  fetcher: MediaFetcher,
  deps: { clock: Clock; signal: AbortSignal },
): Promise<MediaContent> {
  return downloads.run(() => fetchWithin(MEDIA_TIMEOUT_MS, MAX_IMAGE_BYTES, ref, message, fetcher, deps));
}

/** One download with its own time limit (counted from when it starts, not while it waits for a slot). */
async function fetchWithin(
  ms: number,
  maxBytes: number,
  ref: MediaRef,
  message: ChatMessage,
  fetcher: MediaFetcher,
  deps: { clock: Clock; signal: AbortSignal },
): Promise<MediaContent> {
  const timeout = new AbortController();
  const cancel = deps.clock.timeout(ms, () => timeout.abort(new CocoError('COCO_ERR_MEDIA', `no answer within ${ms} ms`, { retryable: true })));
  try {
    return await fetcher(ref, message, { signal: AbortSignal.any([deps.signal, timeout.signal]), maxBytes });
  } catch (err) {
    throw timeout.signal.aborted ? timeout.signal.reason : err;
  } finally {
    cancel();
  }
}

/** Images one answer may carry, at most. */
export const MAX_REPLY_IMAGES = 4;

/**
 * The bytes of an image in an agent's answer, for a channel to upload: decoded when the agent gave
 * them, downloaded (a shared download slot, MEDIA_TIMEOUT_MS, MAX_IMAGE_BYTES) when it gave a URL.
 * Refuses what is not an image: a channel would only have the platform refuse it. A download that
 * may pass (network, 5xx, 429) throws retryable, so the outbox tries the chunk again.
 */
export async function loadReplyImage(image: ReplyImage, deps: { clock: Clock; signal: AbortSignal }): Promise<MediaContent> {
  const content =
    'data' in image
      ? decodedImage(image.data, image.mimeType)
      : await downloads.run(() => downloadWithin(MEDIA_TIMEOUT_MS, image.url, deps));
  if (!content.mimeType.startsWith('image/')) {
    throw new CocoError('COCO_ERR_MEDIA', `reply image: ${content.mimeType} (${content.data.length} bytes) is not an image`, { retryable: false });
  }
  return content;
}

function decodedImage(base64: string, declared: string): MediaContent {
  const data = Buffer.from(base64, 'base64');
  if (data.length > MAX_IMAGE_BYTES) throw tooLarge('reply image', data.length, MAX_IMAGE_BYTES);
  return { data, mimeType: mediaType(data, declared) };
}

async function downloadWithin(ms: number, url: string, deps: { clock: Clock; signal: AbortSignal }): Promise<MediaContent> {
  const timeout = new AbortController();
  const cancel = deps.clock.timeout(ms, () => timeout.abort(new CocoError('COCO_ERR_MEDIA', `reply image: no answer within ${ms} ms`, { retryable: true })));
  // The URL is not logged or kept in errors: it may be signed.
  try {
    const response = await fetch(url, { signal: AbortSignal.any([deps.signal, timeout.signal]) });
    const data = await readMediaBody(response, MAX_IMAGE_BYTES, 'reply image');
    return { data, mimeType: mediaType(data, response.headers.get('content-type')) };
  } catch (err) {
    if (timeout.signal.aborted) throw timeout.signal.reason;
    if (err instanceof CocoError || deps.signal.aborted) throw err;
    const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
    // A host that does not exist (a link a model made up) will not appear: no retry holds the conversation's later replies back.
    const noSuchHost = cause?.code === 'ENOTFOUND';
    const why = typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err);
    throw new CocoError('COCO_ERR_MEDIA', `reply image: download failed (${why})`, { retryable: !noSuchHost });
  } finally {
    cancel();
  }
}

/** A file name for an upload that wants one, from the image's type. */
export function imageFileName(mimeType: string): string {
  const ext = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp', 'image/bmp': 'bmp' }[mimeType] ?? 'bin';
  return `image.${ext}`;
}
