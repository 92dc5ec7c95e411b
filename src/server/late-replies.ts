import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { chatImagesSchema, imagesAsData } from '../channels/web-api/attachments.js';
import { filterAnswer } from '../core/content-filter.js';
import { CocoError } from '../core/errors.js';
import type { ResolvedTarget } from '../core/heartbeat.js';
import { historyText, replyChunks } from '../core/reply-chunks.js';
import type { HistoryKey, HistoryTurn, MessageDetail, Store } from '../store/store.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { Settings } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Routable } from '../core/scene-routes.js';

/**
 * Replies to a message after it was answered (or left to someone): an operator's, typed in the panel,
 * and an `http` agent's, posted when a long task is done. Either is split to the channel's limits
 * like an answer, queued in the outbox behind anything of the conversation still waiting, sent the
 * platform's way (its windows and quotas apply), and added to the answering agent's history.
 */

/**
 * What a later reply needs of the gateway (the Gateway has all of it): the store, the channel types'
 * limits, the outbox to wake, and which agent answers a message. Kept this narrow so the gateway's
 * own pieces (pairing approvals) can queue replies without depending on the server.
 */
export interface ReplyHost {
  clock: Clock;
  store: Store;
  registry: Pick<ChannelRegistry, 'has' | 'get'>;
  snapshot: { settings: Pick<Settings, 'limits'> };
  outbox: { wake(): void };
  resolveTarget(kind: 'agent' | 'scene', id: string, message?: Routable): ResolvedTarget;
}

/** `{text, format?, images?}`: what a later reply says. */
export const lateReplyBody = z
  .object({
    text: z.string().trim().max(20_000).default(''),
    format: z.enum(['text', 'markdown']).default('text'),
    images: chatImagesSchema.optional(),
  })
  .strict()
  .refine((b) => b.text !== '' || b.images !== undefined, { path: ['text'], message: 'is required (a non-empty string) unless the reply has images' });

export type LateReply = z.infer<typeof lateReplyBody>;

/** Who wrote a later reply; their idempotency keys start so, and the transcript tells them apart by it. */
export const LATE_REPLY_KEYS = { operator: 'operator:', agent: 'agent-later:' } as const;
/** Who sent a reply chunk, by its idempotency key: an operator, or the agent (its answer, or a later reply). */
export function replyAuthor(idempotencyKey: string): 'operator' | 'agent' {
  return idempotencyKey.startsWith(LATE_REPLY_KEYS.operator) ? 'operator' : 'agent';
}

/** The message timeline's step for each. */
const STAGES = { operator: 'operator_reply', agent: 'agent_later_reply' } as const;

export interface QueuedLateReply {
  messageId: string;
  chunks: number;
  idempotencyKeys: string[];
  /** The same Idempotency-Key was used for this message before: nothing was queued again. */
  duplicate: boolean;
}

/** The `Idempotency-Key` header: one value of 1–128 characters, or none. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header !== undefined && (typeof header !== 'string' || header.length < 1 || header.length > 128)) {
    throw new CocoError('COCO_ERR_REQUEST_INVALID', 'Idempotency-Key: must be one header of 1-128 characters', { statusCode: 400, field: 'Idempotency-Key' });
  }
  return header;
}

/** Queues `body` as `by`'s reply to the message; with `idempotencyKey`, once per key and message. */
export async function queueLateReply(
  host: ReplyHost,
  detail: MessageDetail,
  body: LateReply,
  by: keyof typeof LATE_REPLY_KEYS,
  idempotencyKey?: string,
  /** Who, for the message log: `operator alice` (server/session.ts actorOf). */
  actor?: string,
): Promise<QueuedLateReply> {
  const now = host.clock.now();
  const caps = host.registry.has(detail.channelType) ? host.registry.get(detail.channelType).capabilities : undefined;
  const keyPrefix = `${LATE_REPLY_KEYS[by]}${detail.id}:${idempotencyKey ?? randomUUID()}`;
  const target = answeringTarget(host, detail);
  // An agent's words go through its profile's content filter, as its answers do; an operator's are their own.
  const filter = by === 'agent' ? target?.profile.content_filter : undefined;
  const text = filterAnswer(filter, body.text).text;
  const answer = { text, format: body.format, images: body.images ? imagesAsData(body.images) : [] };
  const chunks = replyChunks(detail, answer, caps, { now, maxAgeMs: host.snapshot.settings.limits.outbox_max_age_ms, keyPrefix });
  const added = await host.store.addReplies(chunks, now, historyTurn(target, detail, historyText(answer), now));
  const duplicate = added === 0;
  if (!duplicate) {
    await host.store.recordEvent(detail.id, { at: now, stage: STAGES[by], detail: `${chunks.length} chunk(s)${actor ? ` by ${actor}` : ''}` });
    host.outbox.wake();
  }
  return { messageId: detail.id, chunks: chunks.length, idempotencyKeys: chunks.map((c) => c.idempotencyKey), duplicate };
}

/**
 * A later reply as a turn of the answering agent's history, so the agent knows what was said; none
 * for an agent that reads no history or no longer exists.
 */
function historyTurn(target: ResolvedTarget | undefined, detail: MessageDetail, text: string, now: number): { key: HistoryKey; turns: HistoryTurn[] } | undefined {
  if (!target || target.agent.usesHistory === false) return undefined;
  return { key: { agentId: target.agentId, entryKey: detail.entryKey, conversationId: detail.conversationId }, turns: [{ role: 'assistant', content: text, at: now }] };
}

/** The agent that answers a message's target now, with its profile; undefined when the agent or scene is gone. */
export function answeringTarget(host: ReplyHost, detail: MessageDetail): ResolvedTarget | undefined {
  try {
    return host.resolveTarget(detail.targetKind, detail.targetId, detail);
  } catch {
    return undefined;
  }
}

/** Looks a message up by our id; 404 for anything else. */
export async function messageOr404(host: ReplyHost, id: string): Promise<MessageDetail> {
  const detail = /^\d+$/.test(id) ? await host.store.getMessage(id) : undefined;
  if (!detail) throw new CocoError('COCO_ERR_NOT_FOUND', `message "${id}" does not exist`, { statusCode: 404 });
  return detail;
}
