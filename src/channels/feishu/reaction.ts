import type { Client } from '@larksuiteoapi/node-sdk';
import { FeishuApiError, type FeishuTokens } from './api.js';
import type { LarkSdk } from './long-connection.js';
import { sdkCall } from './sdk-call.js';

/**
 * Emoji reactions on a user's message (im/v1 message-reaction), which is how a Feishu bot shows it is
 * working: Feishu has no typing indicator. Calls go through the official SDK client with the entry's
 * tenant token, refreshed once when Feishu refuses it. Everything else (rate limits 99991400 / 429, a
 * recalled or unknown message 231003, no permission 231002 / 99991672) is thrown to the caller, which
 * treats reactions as best effort.
 */

/** The "typing" (敲键盘) emoji of Feishu's reaction set. */
export const TYPING_EMOJI = 'Typing';

type Answer = { code?: number; msg?: string; data?: { reaction_id?: string } };

export class FeishuReactions {
  constructor(
    private readonly sdk: LarkSdk,
    private readonly client: Client,
    private readonly tokens: FeishuTokens,
  ) {}

  /** POST /open-apis/im/v1/messages/:message_id/reactions: the new reaction's id. */
  async add(messageId: string, emojiType: string): Promise<string> {
    const answer = await this.call('im/v1/messages/:message_id/reactions', (auth) =>
      this.client.im.messageReaction.create({ path: { message_id: messageId }, data: { reaction_type: { emoji_type: emojiType } } }, auth),
    );
    const id = answer.data?.reaction_id;
    if (typeof id !== 'string' || id === '') throw new FeishuApiError('im/v1/messages/:message_id/reactions', 200, answer.code, 'no reaction_id in the answer');
    return id;
  }

  /** DELETE /open-apis/im/v1/messages/:message_id/reactions/:reaction_id (only the bot's own reactions). */
  async remove(messageId: string, reactionId: string): Promise<void> {
    await this.call('im/v1/messages/:message_id/reactions/:reaction_id', (auth) =>
      this.client.im.messageReaction.delete({ path: { message_id: messageId, reaction_id: reactionId } }, auth),
    );
  }

  private call(path: string, request: (auth: ReturnType<LarkSdk['withTenantToken']>) => Promise<Answer>): Promise<Answer> {
    return sdkCall(this.sdk, this.tokens, path, request);
  }
}
