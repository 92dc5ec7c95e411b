/**
 * Temporary media (临时素材) as the fake WeChat Official Account (`wechat-mp/`) and the fake WeCom self-built app
 * (`wecom/`) keep it: a user's upload stored with its creation time and gone after the platform's 3 days on the
 * fake's clock, scripted errcode failures, a log of every call, and the file answer of `GET /cgi-bin/media/get` and
 * of a PicUrl. What differs stays in each fake: the token check, how an error is answered (WeChat: the JSON as
 * text/plain; WeCom: plus Error-Code / Error-Msg headers), the media id's form and the clock's unit.
 */

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
  private readonly scripted: number[] = [];

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
