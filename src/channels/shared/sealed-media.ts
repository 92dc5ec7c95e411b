import { CocoError, describeError } from '../../core/errors.js';
import { dispositionFileName, readMediaBody, type MediaContext } from '../../core/media.js';

/**
 * Downloads a file a platform keeps encrypted behind a URL that needs no token (a WeCom robot's media,
 * WeChat's CDN for iLink). A network failure or a 5xx may pass on a second try; any other 4xx is final
 * (the link expired). The body may exceed `maxBytes` by the cipher's padding: the limit holds for the
 * plaintext (`withinLimit`, after decrypting).
 */
export async function downloadSealed(
  url: URL,
  ctx: MediaContext,
  opts: {
    channel: string;
    /** Starts every error, e.g. "wecom_bot: image download". */
    what: string;
    /** Names the server in a network error: the host only, as the query is the file's ticket. */
    where: string;
    /** The most the ciphertext adds to the plaintext. */
    padding: number;
    /** Why a final 4xx answer (the status and what the platform says of it). */
    gone(res: Response): string;
  },
): Promise<{ body: Buffer; servedType: string | null; fileName?: string }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: ctx.signal });
  } catch (err) {
    throw new CocoError('COCO_ERR_MEDIA', `${opts.what}: ${opts.where} unreachable: ${describeError(err)}`, { channel: opts.channel, retryable: true, cause: err });
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 429) {
    const reason = opts.gone(res);
    await res.body?.cancel().catch(() => {});
    throw new CocoError('COCO_ERR_MEDIA', `${opts.what}: ${reason}`, { channel: opts.channel, retryable: false, statusCode: res.status });
  }
  const body = await readMediaBody(res, ctx.maxBytes + opts.padding, opts.what).catch((err: unknown) => {
    // Its only error without a status is the size limit: said in the plaintext's terms, the limit the caller set.
    if (err instanceof CocoError && err.statusCode === undefined) throw tooLarge(opts, ctx.maxBytes, `over ${ctx.maxBytes + opts.padding} encrypted`);
    throw err;
  });
  const fileName = dispositionFileName(res.headers.get('content-disposition'));
  return { body, servedType: res.headers.get('content-type'), ...(fileName ? { fileName } : {}) };
}

/** The plaintext, or a final COCO_ERR_MEDIA when it is over `maxBytes`. */
export function withinLimit(data: Buffer, maxBytes: number, opts: { channel: string; what: string }): Buffer {
  if (data.length > maxBytes) throw tooLarge(opts, maxBytes, String(data.length));
  return data;
}

const tooLarge = (opts: { channel: string; what: string }, maxBytes: number, size: string) =>
  new CocoError('COCO_ERR_MEDIA', `${opts.what}: larger than ${maxBytes} bytes (${size})`, { channel: opts.channel, retryable: false });
