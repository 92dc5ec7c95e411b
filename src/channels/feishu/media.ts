import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import { mediaType, readMediaBody, type MediaContent, type MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
import { FeishuApiError, feishuTokensFor, isRateLimited, withTenantToken } from './api.js';
import { feishuBaseUrl, type FeishuChannelConfig } from './config.js';

/**
 * Downloads what a user sent: `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file`
 * with the tenant_access_token of the entry's app (the process-wide owner the running channel uses).
 * Success is the file's bytes with a Content-Type; a failure is the `{code, msg}` envelope with a 4xx/5xx.
 * Works from the entry's config alone, in whichever gateway process runs the agent.
 */

const PATH = 'im/v1/messages/:message_id/resources/:file_key';

/** What the resource API's codes mean (its documented error table, plus the scope check). None is worth a retry. */
const REFUSED: Record<number, string> = {
  230110: 'the message was deleted or recalled',
  234001: 'invalid request parameter',
  234002: 'unauthorized',
  234003: 'the file is not in this message (message id and key do not match)',
  234004: 'the app is not in the chat the message is in',
  234009: 'no permission (e.g. an external chat)',
  234037: 'over Feishu\'s 100 MB download limit',
  234038: 'the chat is in restricted mode (防泄密): resources cannot be downloaded',
  234040: 'the message is not visible to the app',
  234043: 'unsupported message type (merged forward or card)',
  99991672: 'the app lacks the permission: enable im:message or im:message:readonly (and im:resource) and publish a version',
};
/** "Could not read the app's permissions, try again". */
const RETRY_CODES = new Set([234019]);

export async function fetchFeishuMedia(media: MediaRef, ctx: MediaContext<FeishuChannelConfig>): Promise<MediaContent> {
  const { config, message, signal, maxBytes, clock } = ctx;
  const kind = media.kind === 'image' ? 'image' : 'file';
  const what = `feishu: ${kind} download`;
  // The message the resource came with: its Feishu message_id (toChatMessage puts it in msgId), or the quoted one's.
  const messageId = media.messageId ?? message.msgId;
  if (!messageId || !media.ref) throw new CocoError('COCO_ERR_MEDIA', `${what}: the message id or file key is missing`, { channel: 'feishu' });
  const baseUrl = feishuBaseUrl(config.domain);
  const tokens = feishuTokensFor({ baseUrl, appId: config.app_id, appSecret: config.app_secret, clock, timeoutMs: config.request_timeout_ms });
  const url = `${baseUrl}/open-apis/im/v1/messages/${encodeURIComponent(messageId)}/resources/${encodeURIComponent(media.ref)}?type=${kind}`;

  try {
    return await withTenantToken(
      tokens,
      async (token) => {
        const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
        const contentType = res.headers.get('content-type');
        // Errors come as JSON; for an image a 200 with JSON is one too (a user's .json file may be served as JSON).
        if (!res.ok || (kind === 'image' && /^application\/json/i.test(contentType ?? ''))) throw await apiError(res);
        const data = await readMediaBody(res, maxBytes, what);
        return { data, mimeType: mediaType(data, contentType) };
      },
      signal,
    );
  } catch (err) {
    if (err instanceof FeishuApiError) throw mediaError(what, err);
    if (isCocoError(err, 'COCO_ERR_MEDIA')) throw err;
    if (isCocoError(err)) throw new CocoError('COCO_ERR_MEDIA', `${what}: ${describeError(err)}`, { channel: 'feishu', retryable: err.retryable, cause: err });
    // A network failure (never the URL or the request: the error names the path only), or the gateway giving up.
    throw new CocoError('COCO_ERR_MEDIA', `${what}: ${PATH} unreachable: ${describeError(err)}`, { channel: 'feishu', retryable: true, cause: err });
  }
}

/** The `{code, msg}` of a refused download, as the channel's other API errors. */
async function apiError(res: Response): Promise<FeishuApiError> {
  const text = await res.text().catch(() => '');
  let body: { code?: unknown; msg?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as typeof body;
  } catch {
    // Not JSON (a proxy's error page): the status says it all.
  }
  const reset = Number(res.headers.get('x-ogw-ratelimit-reset') ?? NaN);
  return new FeishuApiError(
    PATH,
    res.status,
    typeof body.code === 'number' ? body.code : undefined,
    typeof body.msg === 'string' ? body.msg.slice(0, 200) : '',
    Number.isFinite(reset) && reset >= 0 ? reset : undefined,
  );
}

/** Retryable for rate limits, 5xx and "try again" codes; an unknown key, a missing permission or a deleted message is final. */
function mediaError(what: string, err: FeishuApiError): CocoError {
  const reason = err.code === undefined ? undefined : REFUSED[err.code];
  const limited = isRateLimited(err);
  const retryable = limited || (err.code !== undefined && RETRY_CODES.has(err.code)) || (reason === undefined && err.status >= 500);
  return new CocoError('COCO_ERR_MEDIA', `${what}: ${err.message}${reason ? ` (${reason})` : ''}`, {
    channel: 'feishu',
    retryable,
    ...(limited ? { retryAfterMs: (err.resetSeconds ?? 1) * 1000 } : {}),
    ...(err.status > 0 ? { statusCode: err.status } : {}),
    cause: err,
  });
}
