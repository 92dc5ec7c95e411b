import type { MediaContent, MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
import { fetchTencentMedia } from '../shared/tencent-media.js';
import { BUSY_RETRY_AFTER_MS, PERMANENT, TOKEN_INVALID, wecomApiFor } from './api.js';
import { wecomApiBaseUrl, type WecomChannelConfig } from './config.js';

/** media/get's own codes; the send path's tables (PERMANENT, busy) cover the rest. */
const MEDIA_ERRORS: Record<number, string> = {
  40007: 'invalid media_id: unknown, or older than the 3 days WeCom keeps media',
  41006: 'media_id missing',
};

/** Downloads an image a member sent, with the app's shared access token (40014, 41001, 42001 refresh it). */
export function fetchWecomMedia(media: MediaRef, ctx: MediaContext<WecomChannelConfig>): Promise<MediaContent> {
  const { config } = ctx;
  const baseUrl = wecomApiBaseUrl(config);
  const api = wecomApiFor({ baseUrl, corpId: config.corp_id, secret: config.secret, timeoutMs: config.request_timeout_ms, clock: ctx.clock });
  return fetchTencentMedia(media, ctx, {
    channel: 'wecom',
    baseUrl,
    accessToken: (force) => api.accessToken(force),
    tokenInvalid: TOKEN_INVALID,
    explain: (code, errmsg) => {
      const reason = MEDIA_ERRORS[code] ?? PERMANENT[code];
      if (reason !== undefined) return { reason, retryable: false };
      // Busy or over a frequency limit heals with time; any other code will not change on a second try.
      return { reason: errmsg ?? 'download failed', retryable: code in BUSY_RETRY_AFTER_MS };
    },
  });
}
