import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Gateway } from '../../gateway.js';
import type { InboundStatus, OutboundStatus } from '../../store/store.js';
import { entryOr404 } from './entries.js';
import { replyAuthor } from '../late-replies.js';
import { parseInput } from './parse-input.js';

/** One line of a conversation's transcript: a message that came in, or a chunk that went out. */
export type TranscriptTurn =
  | { role: 'user'; messageId: string; userId: string; text: string; at: number; status: InboundStatus }
  | {
      role: 'bot';
      messageId: string;
      /** Who wrote it: an operator by hand, or the agent (its answers, fallbacks and notices). */
      by: 'agent' | 'operator';
      text: string;
      /** An image chunk (its text is the alt text). */
      image: boolean;
      at: number;
      status: OutboundStatus;
    };

const transcriptQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(30) }).strict();

/**
 * A conversation as the user saw it, for an operator taking it over: its last messages, each with
 * the chunks that went out for it, oldest first, on any channel. Read from the message log, so it
 * reaches back as far as the store keeps messages.
 */
export function registerConversationRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get<{ Params: { key: string; conversationId: string } }>('/entries/:key/conversations/:conversationId/transcript', async (request) => {
    const { key, conversationId } = request.params;
    entryOr404(gateway, key);
    const { limit } = parseInput(transcriptQuery, request.query, 'query');
    const messages = (await gateway.store.listMessages({ entryKey: key, conversationId, limit })).reverse();
    const turns: TranscriptTurn[] = [];
    for (const m of messages) {
      turns.push({ role: 'user', messageId: m.id, userId: m.userId, text: m.content, at: m.createdAt, status: m.status });
      const replies = (await gateway.store.getMessage(m.id))?.replies ?? [];
      for (const r of replies) {
        const by = replyAuthor(r.idempotencyKey);
        turns.push({ role: 'bot', messageId: m.id, by, text: r.text, image: r.image !== undefined, at: r.sentAt ?? r.createdAt, status: r.status });
      }
    }
    return { entryKey: key, conversationId, turns };
  });
}
