import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { WebApiChannel } from '../../channels/web-api/channel.js';
import { chatImagesSchema, textOrAttachments } from '../../channels/web-api/attachments.js';
import { streamReplies, submitChat, tailSeq, takeRateToken } from '../../channels/web-api/routes.js';
import { CocoError } from '../../core/errors.js';
import type { Gateway } from '../../gateway.js';
import { parseInput } from './parse-input.js';
import { asObject } from './targets.js';

const chatBody = z
  .object({
    userId: z.string().min(1).max(128),
    content: z.string().max(100_000).optional(),
    images: chatImagesSchema.optional(),
  })
  .strict()
  .refine(...textOrAttachments);

const userQuery = z.object({ userId: z.string().min(1).max(128), after: z.string().regex(/^\d+$/).optional() });
const TRANSCRIPT_MESSAGES = 100;

type KeyParams = { Params: { key: string } };

/** One turn of the transcript: a user's message, or one chunk of the agent's answer (text or an image). */
export interface ChatTurn {
  role: 'user' | 'assistant';
  text: string;
  at: number;
  messageId: string;
  seq?: number;
  status?: string;
  format?: string;
  image?: { url: string };
}

/**
 * The panel's chat: talks to an agent through one of its web_api entries with the admin session
 * instead of the entry's API key (which the panel never sees). Same mailbox, feed and rate limit
 * as an API client.
 */
export function registerChatRoutes(app: FastifyInstance, gateway: Gateway): void {
  const channelOf = (key: string) => gateway.keeper.lookup(key, 'web_api') as WebApiChannel;

  app.post<KeyParams>('/chat/:key', async (request, reply) => {
    const channel = channelOf(request.params.key);
    await takeRateToken(channel, reply);
    const body = parseInput(chatBody, asObject(request.body), 'body');
    const accepted = await submitChat(channel, { ...body, userName: 'panel' });
    return reply.code(202).send({ messageId: accepted.messageId, duplicate: accepted.duplicate });
  });

  app.get<KeyParams>('/chat/:key/events', async (request, reply) => {
    const channel = channelOf(request.params.key);
    const q = parseInput(userQuery, request.query, 'query');
    // EventSource resends the last id it saw when it reconnects; that wins over the first `after`.
    const lastEventId = request.headers['last-event-id'];
    const resume = typeof lastEventId === 'string' && /^\d+$/.test(lastEventId) ? lastEventId : q.after;
    const cursor = resume === undefined ? await tailSeq(channel, q.userId) : Number(resume);
    await streamReplies(channel, q.userId, cursor, request, reply);
  });

  app.get<KeyParams>('/chat/:key/conversations', async (request) => {
    return { conversations: await gateway.store.listConversations(knownEntry(gateway, request.params.key)) };
  });

  /** The last 100 messages of one user with their replies, oldest first; works while the entry is stopped. */
  app.get<KeyParams>('/chat/:key/transcript', async (request) => {
    const key = knownEntry(gateway, request.params.key);
    const { userId } = parseInput(userQuery, request.query, 'query');
    const messages = (await gateway.store.listMessages({ entryKey: key, userId, limit: TRANSCRIPT_MESSAGES })).reverse();
    const turns: ChatTurn[] = [];
    let lastSeq = 0;
    for (const m of messages) {
      turns.push({ role: 'user', text: m.content, at: m.createdAt, messageId: m.id, status: m.status });
      const replies = await gateway.store.feedRepliesTo(key, m.id);
      for (const r of replies) {
        const payload = r.payload as { text?: string; format?: string; image?: { url: string } };
        const turn: ChatTurn = { role: 'assistant', text: payload.text ?? '', at: r.createdAt, messageId: m.id, seq: r.seq, format: payload.format ?? 'text' };
        // An image chunk: shown from its URL (a data: URL of its bytes, or the agent's); `text` is its alt text.
        turns.push(payload.image ? { ...turn, image: { url: payload.image.url } } : turn);
        lastSeq = Math.max(lastSeq, r.seq);
      }
    }
    return { turns, lastSeq };
  });
}

function knownEntry(gateway: Gateway, key: string): string {
  const status = gateway.keeper.statusOf(key);
  if (!status || status.channel !== 'web_api') throw new CocoError('COCO_ERR_NOT_FOUND', `no web_api entry "${key}"`, { statusCode: 404 });
  return key;
}
