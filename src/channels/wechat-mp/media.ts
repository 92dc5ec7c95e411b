import type { MediaContent, MediaContext } from '../../core/media.js';
import type { MediaRef } from '../../core/message.js';
import { fetchTencentMedia } from '../shared/tencent-media.js';
import { TOKEN_INVALID, wechatApiFor } from './api.js';
import type { WechatMpChannelConfig } from './config.js';

/** media/get's own codes (token codes refresh and retry); any other code is not worth a second try. */
const MEDIA_ERRORS: Record<number, { reason: string; retryable: boolean }> = {
  [-1]: { reason: 'system busy', retryable: true },
  40007: { reason: 'invalid media_id: unknown, or older than the 3 days WeChat keeps media', retryable: false },
  41006: { reason: 'media_id missing', retryable: false },
  45009: { reason: 'API daily quota reached', retryable: true },
  45011: { reason: 'API minute quota reached', retryable: true },
  48001: { reason: 'API unauthorized: the account may not download media (素材管理 permission)', retryable: false },
};

/** Downloads an image a follower sent, with the account's shared access token. */
export function fetchWechatMpMedia(media: MediaRef, ctx: MediaContext<WechatMpChannelConfig>): Promise<MediaContent> {
  const { config } = ctx;
  const api = wechatApiFor({ baseUrl: config.api_base_url, appId: config.app_id, appSecret: config.app_secret, clock: ctx.clock });
  return fetchTencentMedia(media, ctx, {
    channel: 'wechat_mp',
    baseUrl: config.api_base_url.replace(/\/+$/, ''),
    accessToken: (force) => api.accessToken(force),
    tokenInvalid: TOKEN_INVALID,
    explain: (code, errmsg) => MEDIA_ERRORS[code] ?? { reason: errmsg ?? 'download failed', retryable: false },
  });
}
