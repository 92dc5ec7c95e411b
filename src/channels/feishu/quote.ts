import { CocoError, describeError } from '../../core/errors.js';
import type { ChatMessage } from '../../core/message.js';
import type { QuoteContext, QuotedMessage } from '../../core/quote.js';
import { FeishuApiError, feishuTokensFor, withTenantToken } from './api.js';
import { feishuBaseUrl, type FeishuChannelConfig } from './config.js';
import { readContent, type FeishuMention, type FeishuReplyMeta } from './parse.js';

/**
 * The message a Feishu message answers (its `parent_id`: a quote, or the message before it in a
 * thread). The event names the parent only; its words come from `GET /open-apis/im/v1/messages/:message_id`
 * with `card_msg_content_type=user_card_content`, so a quoted card (the bot's own answer) reads as
 * its markdown rather than an "upgrade your client" stub. Needs the permission to read messages
 * (im:message or im:message:readonly); without it the agent answers without the quote.
 */

const PATH = 'im/v1/messages/:message_id';

/** What the get-message API's codes mean (its documented error table, plus the scope check). */
const REFUSED: Record<number, string> = {
  230002: 'the bot is not in the chat of the quoted message',
  230110: 'the quoted message was deleted or recalled',
  230027: 'no permission to read the quoted message',
  99991672: 'the app lacks the permission to read messages: enable im:message or im:message:readonly and publish a version',
};

interface GotMessage {
  msg_type?: unknown;
  deleted?: unknown;
  body?: { content?: unknown };
  mentions?: { key?: unknown; name?: unknown }[];
}

export async function fetchFeishuQuote(message: ChatMessage, ctx: QuoteContext<FeishuChannelConfig>): Promise<QuotedMessage | undefined> {
  const meta = message.replyMeta as Partial<FeishuReplyMeta> | undefined;
  const parentId = typeof meta?.parentId === 'string' && meta.parentId !== '' ? meta.parentId : undefined;
  if (!parentId) return undefined;
  const { config, clock } = ctx;
  const baseUrl = feishuBaseUrl(config.domain);
  const tokens = feishuTokensFor({ baseUrl, appId: config.app_id, appSecret: config.app_secret, clock, timeoutMs: config.request_timeout_ms });
  let item: GotMessage | undefined;
  try {
    item = await withTenantToken(
      tokens,
      async (token) => {
        const answer = await tokens.http.get<{ code?: number; msg?: string; data?: { items?: GotMessage[] } }>(`${baseUrl}/open-apis/im/v1/messages/${encodeURIComponent(parentId)}`, {
          headers: { authorization: `Bearer ${token}` },
          params: { card_msg_content_type: 'user_card_content' },
        });
        if (answer?.code !== 0) throw new FeishuApiError(PATH, 200, answer?.code, answer?.msg ?? '');
        return answer.data?.items?.[0];
      },
      ctx.signal,
    );
  } catch (err) {
    const code = err instanceof FeishuApiError ? err.code : undefined;
    const reason = code === undefined ? undefined : REFUSED[code];
    throw new CocoError('COCO_ERR_QUOTE', `feishu: quoted message ${parentId}: ${describeError(err)}${reason ? ` (${reason})` : ''}`, { channel: 'feishu', cause: err });
  }
  if (!item || item.deleted === true || typeof item.msg_type !== 'string' || typeof item.body?.content !== 'string') return undefined;
  const mentions: FeishuMention[] = (item.mentions ?? []).flatMap((m) => (typeof m.key === 'string' ? [{ key: m.key, ...(typeof m.name === 'string' ? { name: m.name } : {}), isBot: false }] : []));
  const { text, media } = readContent(item.msg_type, item.body.content, mentions);
  // Its images and files are downloaded by the parent's id (the resource API names the message).
  return { text, ...(media.length > 0 ? { media: media.map((m) => ({ ...m, messageId: parentId })) } : {}) };
}
