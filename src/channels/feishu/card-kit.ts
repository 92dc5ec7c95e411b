import type { Client } from '@larksuiteoapi/node-sdk';
import { FeishuApiError, type FeishuTokens } from './api.js';
import type { LarkSdk } from './long-connection.js';
import { sdkCall } from './sdk-call.js';

/**
 * Card entities (cardkit/v1), what a streaming reply is shown in: created once, sent once as an
 * interactive message naming its card_id, then changed in place. Every change carries a `sequence`
 * that must grow from one call to the next on the same card. Calls go through the official SDK
 * client with the tenant token, renewed once when Feishu refuses it; any other refusal is thrown as
 * a FeishuApiError for the caller to judge.
 */

type Answer = { code?: number; msg?: string; data?: { card_id?: string } };

export class FeishuCardKit {
  constructor(
    private readonly sdk: LarkSdk,
    private readonly client: Client,
    private readonly tokens: FeishuTokens,
  ) {}

  /** POST /open-apis/cardkit/v1/cards with a card JSON 2.0 (a string): the new card_id. */
  async create(cardJson: string): Promise<string> {
    const answer = await this.call('cardkit/v1/cards', (auth) => this.client.cardkit.v1.card.create({ data: { type: 'card_json', data: cardJson } }, auth));
    const id = answer.data?.card_id;
    if (typeof id !== 'string' || id === '') throw new FeishuApiError('cardkit/v1/cards', 200, answer.code, 'no card_id in the answer');
    return id;
  }

  /**
   * PUT …/cards/:card_id/elements/:element_id/content: the element's whole text. While the card is in
   * streaming mode the client types out what was added to the old text (a new text that does not start
   * with the old one is shown at once).
   */
  async streamText(cardId: string, elementId: string, content: string, sequence: number): Promise<void> {
    await this.call('cardkit/v1/cards/:card_id/elements/:element_id/content', (auth) =>
      this.client.cardkit.v1.cardElement.content({ path: { card_id: cardId, element_id: elementId }, data: { content, sequence } }, auth),
    );
  }

  /** PUT /open-apis/cardkit/v1/cards/:card_id: the whole card replaced (its config too, streaming mode included). */
  async update(cardId: string, cardJson: string, sequence: number): Promise<void> {
    await this.call('cardkit/v1/cards/:card_id', (auth) =>
      this.client.cardkit.v1.card.update({ path: { card_id: cardId }, data: { card: { type: 'card_json', data: cardJson }, sequence } }, auth),
    );
  }

  private call(path: string, request: (auth: ReturnType<LarkSdk['withTenantToken']>) => Promise<Answer>): Promise<Answer> {
    return sdkCall(this.sdk, this.tokens, path, request);
  }
}
