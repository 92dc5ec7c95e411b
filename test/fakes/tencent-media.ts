/**
 * Temporary media (临时素材) as the fake WeChat Official Account (`wechat-mp/`) and the fake WeCom self-built app
 * (`wecom/`) keep it: a user's upload stored with its creation time and gone after the platform's 3 days on the
 * fake's clock, scripted errcode failures, a log of every call, and the file answer of `GET /cgi-bin/media/get` and
 * of a PicUrl. The account's own uploads (`POST /cgi-bin/media/upload`, multipart) are checked and stored the same
 * way. What differs stays in each fake: the token check, how an error is answered (WeChat: the JSON as
 * text/plain; WeCom: plus Error-Code / Error-Msg headers), the media id's form, the clock's unit, and which image
 * types and sizes an upload may have.
 */
import type { FormPart } from './multipart.js';

/** Both platforms keep a user's media 3 days. */
export const MEDIA_TTL_SECONDS = 3 * 86_400;

/** One media/get call (or PicUrl fetch) and how it was answered (0 = the file). */
export interface MediaGetRecord {
  mediaId: string;
  errcode: number;
  /** On the fake's clock: unix seconds for WeChat, ms for WeCom. */
  at: number;
  via: 'media/get' | 'PicUrl';
}

/** A file instead of JSON (media/get, PicUrl): the bytes and every response header. */
export interface MediaFile {
  data: Buffer;
  headers: Record<string, string>;
}

/** The answer that serves a stored file: HTTP 200, no JSON. */
export interface MediaFileAnswer {
  status: 200;
  json: undefined;
  file: MediaFile;
}

export interface TencentMediaOptions {
  /** The fake's clock, in its own unit. */
  now: () => number;
  /** How long an upload is kept, in the clock's unit. */
  ttl: number;
  /** A new media id in the platform's form. */
  newId: () => string;
  /** Called on every media/get call and PicUrl fetch, successful or not (the fake's `counters.mediaGets`). */
  counted: () => void;
}

/** One media/upload call and how it was answered (0 = stored, `mediaId` then set). */
export interface UploadRecord {
  /** The `type` query parameter. */
  type: string;
  /** What the `media` part said of itself (undefined when there was no such part). */
  filename?: string;
  filelength?: string;
  contentType?: string;
  /** The bytes of the `media` part as received (empty when there was none). */
  data: Buffer;
  errcode: number;
  mediaId?: string;
  /** On the fake's clock. */
  at: number;
}

/** What one platform takes as an image upload. */
export interface UploadRules {
  /** File extensions taken for `type=image`, each with the type the bytes must have. */
  imageTypes: Record<string, string>;
  maxImageBytes: number;
  /** A file of at most this many bytes is refused with 40006 (WeCom: "size must be more than 5 bytes"). */
  tooSmallBytes?: number;
}

interface StoredMedia {
  data: Buffer;
  contentType: string;
  /** On the fake's clock; the id answers 40007 from `ttl` later. */
  createdAt: number;
}

const EXTENSIONS: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/bmp': 'bmp', 'image/webp': 'webp', 'audio/amr': 'amr', 'video/mp4': 'mp4' };

/** The uploads of one account (WeChat) or app (WeCom), and how media/get and PicUrl fetches were answered. */
export class TencentMedia {
  /** Every media/get call and PicUrl fetch, with its errcode (0 = the file was served). */
  readonly gets: MediaGetRecord[] = [];
  private readonly stored = new Map<string, StoredMedia>();
  /** Every media/upload call, with its errcode. */
  readonly uploads: UploadRecord[] = [];
  private readonly scripted: number[] = [];
  private readonly scriptedUploads: number[] = [];

  constructor(private readonly opts: TencentMediaOptions) {}

  /** Stores a user's upload and returns its new media id. */
  add(data: Buffer, contentType: string): string {
    const id = this.opts.newId();
    this.stored.set(id, { data, contentType, createdAt: this.opts.now() });
    return id;
  }

  /** The media id answers 40007 (its PicUrl 404) from now on, as after the platform's 3 days. */
  expire(mediaId: string): void {
    const m = this.stored.get(mediaId);
    if (m) m.createdAt = Math.min(m.createdAt, this.opts.now() - this.opts.ttl);
  }

  /** The next `n` media/get calls with a usable token answer `errcode`. */
  failNext(n: number, errcode: number): void {
    for (let i = 0; i < n; i++) this.scripted.push(errcode);
  }

  /** The next `n` uploads with a usable token answer `errcode`. */
  failNextUploads(n: number, errcode: number): void {
    for (let i = 0; i < n; i++) this.scriptedUploads.push(errcode);
  }

  /** A live upload (known and younger than the TTL): what an image message's media_id must name. */
  find(mediaId: string): { data: Buffer; contentType: string } | undefined {
    const m = this.live(mediaId);
    return m && { data: m.data, contentType: m.contentType };
  }

  /**
   * POST media/upload, once the fake has checked the token (`tokenError`, 0 when usable) and read the multipart body
   * (`form`, undefined when it is not multipart): the new media id and its creation time, or the errcode. Checks in
   * order: token, scripted failures, 40004 (type other than image: the fakes keep images only), 41005 (no `media`
   * part), 44001 (empty file), 40006 (too small, where the platform says so), 40005 (file name extension or bytes
   * not an image type the platform takes), 40009 (image too large).
   */
  upload(type: string, form: FormPart[] | undefined, tokenError: number, rules: UploadRules): { mediaId: string; createdAt: number } | number {
    const part = form?.find((p) => p.name === 'media');
    const record: UploadRecord = {
      type,
      ...(part?.filename === undefined ? {} : { filename: part.filename }),
      ...(part?.params.filelength === undefined ? {} : { filelength: part.params.filelength }),
      ...(part?.contentType === undefined ? {} : { contentType: part.contentType }),
      data: part?.data ?? Buffer.alloc(0),
      errcode: 0,
      at: this.opts.now(),
    };
    this.uploads.push(record);
    const errcode = tokenError || this.scriptedUploads.shift() || refusal(type, part, rules);
    if (errcode) {
      record.errcode = errcode;
      return errcode;
    }
    const mediaId = this.add(part!.data, rules.imageTypes[extensionOf(part!.filename)]!);
    record.mediaId = mediaId;
    return { mediaId, createdAt: record.at };
  }

  /**
   * GET media/get, once the fake has checked the token (`tokenError`, 0 when usable): the file, or the errcode the
   * fake answers in its own way. Checks in order: token, scripted failures, 41006 (no media_id), 40007 (unknown,
   * or older than the TTL).
   */
  get(mediaId: string, tokenError: number): MediaFileAnswer | number {
    this.opts.counted();
    const record = (errcode: number): void => void this.gets.push({ mediaId, errcode, at: this.opts.now(), via: 'media/get' });
    const fail = (errcode: number): number => {
      record(errcode);
      return errcode;
    };
    if (tokenError) return fail(tokenError);
    const scripted = this.scripted.shift();
    if (scripted !== undefined) return fail(scripted);
    if (mediaId === '') return fail(41006);
    const m = this.live(mediaId);
    if (!m) return fail(40007);
    record(0);
    return fileAnswer(mediaId, m);
  }

  /** GET of a PicUrl: the file while it is kept, else undefined for a 404 (a CDN, not the API). */
  picture(mediaId: string): MediaFileAnswer | undefined {
    this.opts.counted();
    const m = this.live(mediaId);
    this.gets.push({ mediaId, errcode: m ? 0 : 404, at: this.opts.now(), via: 'PicUrl' });
    return m ? fileAnswer(mediaId, m) : undefined;
  }

  /** The stored file if its id is known and younger than the TTL. */
  private live(mediaId: string): StoredMedia | undefined {
    const m = this.stored.get(mediaId);
    return m && this.opts.now() - m.createdAt < this.opts.ttl ? m : undefined;
  }
}

/** Why the platform refuses this upload, or 0. */
function refusal(type: string, part: FormPart | undefined, rules: UploadRules): number {
  if (type !== 'image') return 40004;
  if (!part) return 41005;
  if (part.data.length === 0) return 44001;
  if (rules.tooSmallBytes !== undefined && part.data.length <= rules.tooSmallBytes) return 40006;
  const expected = rules.imageTypes[extensionOf(part.filename)];
  if (!expected || signatureType(part.data) !== expected) return 40005;
  if (part.data.length > rules.maxImageBytes) return 40009;
  return 0;
}

const extensionOf = (filename: string | undefined): string => /\.([A-Za-z0-9]+)$/.exec(filename ?? '')?.[1]?.toLowerCase() ?? '';

/** The image type the bytes begin with (an independent check, not the gateway's own sniffing). */
function signatureType(data: Buffer): string | undefined {
  const hex = data.subarray(0, 4).toString('hex');
  if (hex === '89504e47') return 'image/png';
  if (hex.startsWith('ffd8ff')) return 'image/jpeg';
  if (data.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (data.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
  if (data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

function fileAnswer(mediaId: string, m: StoredMedia): MediaFileAnswer {
  const ext = EXTENSIONS[m.contentType] ?? 'bin';
  return {
    status: 200,
    json: undefined,
    file: {
      data: m.data,
      headers: {
        'content-type': m.contentType,
        'content-disposition': `attachment; filename="${mediaId}.${ext}"`,
        'content-length': String(m.data.length),
        'cache-control': 'no-cache, must-revalidate',
      },
    },
  };
}

/** The type a photo is served as: the bytes' own for png and gif, else JPEG (WeChat transcodes photos). */
export function imageTypeOf(data: Buffer): string {
  if (data.subarray(0, 4).toString('hex') === '89504e47') return 'image/png';
  if (data.subarray(0, 3).toString('latin1') === 'GIF') return 'image/gif';
  return 'image/jpeg';
}
