import { CocoError, describeError } from '../../core/errors.js';
import { mediaType, readMediaBody, sniffImageType, type MediaContent, type MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';

/** How one Tencent platform (WeChat, WeCom) names its token and explains media/get's codes. */
export interface TencentMediaApi {
  channel: string;
  /** API root, without a trailing slash. */
  baseUrl: string;
  /** The account's shared access token; `force` fetches a new one. */
  accessToken(force: boolean): Promise<string>;
  /** Codes meaning "this token is no longer good": refresh once and ask again. */
  tokenInvalid: ReadonlySet<number>;
  /** Why media/get refused with `code`, and whether a later try may pass. */
  explain(code: number, errmsg: string | undefined): { reason: string; retryable: boolean };
}

interface ApiError {
  errcode?: number;
  errmsg?: string;
}

/**
 * Downloads media a user sent through the temporary-media API, `GET /cgi-bin/media/get?access_token&
 * media_id` (WeChat and WeCom keep media 3 days). Both answer the file with its Content-Type, or HTTP
 * 200 with `{errcode, errmsg}` (WeChat as `text/plain`, WeCom also in `Error-Code` headers), which must
 * not be taken for the file. A refused token is refreshed once, as the send paths do. A message that
 * carries only a PicUrl is fetched from that URL.
 */
export async function fetchTencentMedia(media: MediaRef, ctx: MediaContext, api: TencentMediaApi): Promise<MediaContent> {
  const failure = (message: string, retryable: boolean, cause?: unknown) =>
    new CocoError('COCO_ERR_MEDIA', `${api.channel}: ${message}`, { channel: api.channel, retryable, ...(cause === undefined ? {} : { cause }) });
  const download = async (url: string, what: string): Promise<MediaContent | ApiError> => {
    let response: Response;
    try {
      response = await fetch(url, { signal: ctx.signal });
    } catch (err) {
      // The message only: the URL carries the access token.
      throw failure(`${what} unreachable: ${describeError(err)}`, true);
    }
    const data = await readMediaBody(response, ctx.maxBytes, `${api.channel}: ${what}`);
    return apiError(data, response.headers) ?? { data, mimeType: mediaType(data, response.headers.get('content-type')) };
  };

  if (/^https?:\/\//i.test(media.ref)) {
    const answer = await download(media.ref, 'PicUrl');
    if ('data' in answer) return answer;
    throw failure(`PicUrl answered ${answer.errcode ?? 'JSON'} ${answer.errmsg ?? ''}`.trim(), false);
  }
  if (media.ref === '') throw failure('the message carries no MediaId', false);
  const get = async (force: boolean) => {
    let token: string;
    try {
      token = await api.accessToken(force);
    } catch (err) {
      throw failure(describeError(err), err instanceof CocoError && err.retryable, err);
    }
    return download(`${api.baseUrl}/cgi-bin/media/get?access_token=${encodeURIComponent(token)}&media_id=${encodeURIComponent(media.ref)}`, 'media/get');
  };
  let answer = await get(false);
  if (!('data' in answer) && answer.errcode !== undefined && api.tokenInvalid.has(answer.errcode)) answer = await get(true);
  if ('data' in answer) return answer;
  const code = answer.errcode;
  if (code === undefined) throw failure(`media/get answered JSON instead of the file (${answer.errmsg ?? 'no errcode'})`, false);
  // Still refused after a fresh token: another retry would only force yet another refresh.
  if (api.tokenInvalid.has(code)) throw failure(`media/get ${code} access token refused again after a refresh`, false);
  const { reason, retryable } = api.explain(code, answer.errmsg);
  throw failure(`media/get ${code} ${reason}`, retryable);
}

/** A body that is the platform's error rather than a file: JSON (whatever its Content-Type says), or an Error-Code header. */
function apiError(data: Buffer, headers: Headers): ApiError | undefined {
  if (sniffImageType(data)) return undefined;
  const type = headers.get('content-type')?.toLowerCase() ?? '';
  if (type.includes('json') || type.startsWith('text/') || data[0] === 0x7b) {
    const json = parseJson(data);
    if (typeof json === 'object' && json !== null) {
      const { errcode, errmsg } = json as { errcode?: unknown; errmsg?: unknown };
      return {
        ...(typeof errcode === 'number' || (typeof errcode === 'string' && errcode !== '') ? { errcode: Number(errcode) } : {}),
        ...(typeof errmsg === 'string' ? { errmsg } : {}),
      };
    }
  }
  const headerCode = Number(headers.get('error-code') ?? 0);
  return headerCode !== 0 ? { errcode: headerCode, errmsg: headers.get('error-msg') ?? undefined } : undefined;
}

function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
}
