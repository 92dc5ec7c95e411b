// Row shapes of the store tables (the same columns in SQLite and PostgreSQL) and their mapping to
// the Store's objects. Both stores read JSON columns as their text and booleans as 0/1 or true/false.
import { readdirSync } from 'node:fs';
import type {
  ConversationSummary,
  DeadLetter,
  EntryWaits,
  FeedItem,
  InboundItem,
  InboundStatus,
  MessageDetail,
  MessageFilter,
  MessageSummary,
  NewOutbound,
  NoticeItem,
  NoticeStatus,
  NoticeSummary,
  OutboundItem,
  OutboundStatus,
  PeriodCount,
  QueuedMessage,
  TargetKind,
  TimelineEvent,
  TimelineFacts,
} from './store.js';
import type { ChatMessage, ReplyImage } from '../core/message.js';

export interface LeaseCols { status: string; attempts: number; lease_token: string | null; lease_until: number | null; last_error: string | null; created_at: number }
export interface InboundRow extends LeaseCols {
  id: number; entry_key: string; channel_type: string; target_kind: TargetKind; target_id: string; dedup_key: string;
  conversation_key: string; user_id: string; conversation_id: string; message: string; status: InboundStatus; available_at: number;
  finished_at: number | null; first_claimed_at: number | null; finish_detail: string | null;
}
/** The columns a claim reads (see `claimRow` in sqlite-store.ts). */
export type ClaimRow = Pick<InboundRow, 'id' | 'entry_key' | 'channel_type' | 'target_kind' | 'target_id' | 'dedup_key' | 'conversation_key'
  | 'message' | 'status' | 'attempts' | 'available_at' | 'lease_token' | 'lease_until' | 'last_error' | 'created_at' | 'first_claimed_at'>;
export interface OutboundRow extends LeaseCols {
  id: number; entry_key: string; channel_type: string; conversation_id: string; user_id: string; idempotency_key: string;
  text: string; format: 'text' | 'markdown'; chunk_index: number; chunk_count: number; reply_to: string;
  in_reply_to: string; is_group: number | boolean; reply_meta: string | null; image: string | null; status: OutboundStatus; available_at: number;
  expires_at: number; sent_at: number | null; platform_message_id: string | null; dead_at: number | null;
}
export interface FeedRow { seq: number; entry_key: string; conversation_id: string; reply_to: string; payload: string; created_at: number }
export interface EventRow { at: number; stage: string; detail: string | null }

/** Our ids are decimal integers; anything else cannot name a row. */
export function parseId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function clampLimit(limit: number | undefined, dflt: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return dflt;
  return Math.min(Math.max(Math.trunc(limit), 1), max);
}

/** Due for a claim: queued and available, or leased with the lease run out. */
export const claimable = (r: ClaimRow, now: number) =>
  (r.status === 'queued' && r.available_at <= now) || (r.status === 'leased' && r.lease_until !== null && r.lease_until <= now);

export function toSummary(r: InboundRow): MessageSummary {
  const msg = JSON.parse(r.message) as ChatMessage;
  const s: MessageSummary = {
    id: String(r.id), entryKey: r.entry_key, channelType: r.channel_type, targetKind: r.target_kind, targetId: r.target_id,
    userId: r.user_id, conversationId: r.conversation_id, content: msg.content, status: r.status, attempts: r.attempts,
    createdAt: r.created_at,
  };
  if (r.last_error !== null) s.lastError = r.last_error;
  return s;
}

export function toInbound(r: ClaimRow): InboundItem {
  const item: InboundItem = {
    id: String(r.id), entryKey: r.entry_key, channelType: r.channel_type, targetKind: r.target_kind, targetId: r.target_id,
    dedupKey: r.dedup_key, conversationKey: r.conversation_key, message: JSON.parse(r.message) as ChatMessage,
    status: r.status, attempts: r.attempts, leaseToken: r.lease_token ?? '', leaseUntil: r.lease_until ?? 0,
    createdAt: r.created_at,
  };
  if (r.last_error !== null) item.lastError = r.last_error;
  return item;
}

/** A row of `queuedAfter` (both stores read the message JSON as text). */
export function toQueued(r: { id: number; created_at: number; message: string }): QueuedMessage {
  return { id: String(r.id), createdAt: r.created_at, message: JSON.parse(r.message) as ChatMessage };
}

export function toOutbound(r: OutboundRow): OutboundItem {
  const o: OutboundItem = {
    id: String(r.id), entryKey: r.entry_key, channelType: r.channel_type, conversationId: r.conversation_id,
    userId: r.user_id, idempotencyKey: r.idempotency_key, text: r.text, format: r.format, chunkIndex: r.chunk_index,
    chunkCount: r.chunk_count, replyTo: r.reply_to, inReplyTo: r.in_reply_to, isGroup: r.is_group === 1 || r.is_group === true,
    availableAt: r.available_at, expiresAt: r.expires_at, status: r.status, attempts: r.attempts,
    leaseToken: r.lease_token ?? '', leaseUntil: r.lease_until ?? 0, createdAt: r.created_at,
  };
  if (r.reply_meta !== null) o.replyMeta = JSON.parse(r.reply_meta) as Record<string, unknown>;
  if (r.image !== null) o.image = JSON.parse(r.image) as ReplyImage;
  if (r.sent_at !== null) o.sentAt = r.sent_at;
  if (r.platform_message_id !== null) o.platformMessageId = r.platform_message_id;
  if (r.last_error !== null) o.lastError = r.last_error;
  return o;
}

export function toFeed(r: FeedRow): FeedItem {
  const payload = JSON.parse(r.payload) as unknown;
  return { seq: r.seq, entryKey: r.entry_key, conversationId: r.conversation_id, replyTo: r.reply_to, payload, createdAt: r.created_at };
}

/** Both stores' per-entry counts of what waits (`entryWaits`), as one map. */
export function waitsByEntry(inbound: { entry_key: string; n: number; since: number }[], outbox: { entry_key: string; n: number; since: number }[]): Map<string, EntryWaits> {
  const waits = new Map<string, EntryWaits>();
  const of = (key: string) => {
    let w = waits.get(key);
    if (!w) waits.set(key, (w = { inbound: 0, inboundSince: null, outbound: 0, outboundSince: null }));
    return w;
  };
  for (const r of inbound) Object.assign(of(r.entry_key), { inbound: Number(r.n), inboundSince: Number(r.since) });
  for (const r of outbox) Object.assign(of(r.entry_key), { outbound: Number(r.n), outboundSince: Number(r.since) });
  return waits;
}

/** The "replied" / "fallback" stage of a finished message. */
export function finishEvent(r: InboundRow): TimelineEvent[] {
  if ((r.status !== 'done' && r.status !== 'fallback') || r.finished_at === null) return [];
  const event: TimelineEvent = { at: r.finished_at, stage: r.status === 'done' ? 'replied' : 'fallback' };
  if (r.finish_detail !== null) {
    event.detail = r.finish_detail;
    // The heartbeat's answeredDetail: "2 attempt(s), 840 ms" and what else it noted.
    const answered = /^(\d+) attempt\(s\), (\d+) ms([\s\S]*)$/.exec(r.finish_detail);
    if (answered && event.stage === 'replied') event.facts = { attempts: Number(answered[1]), ms: Number(answered[2]), ...(answered[3] ? { more: answered[3] } : {}) };
  }
  return [event];
}

/** History turn keys are (message id * this + position): ordered within a conversation, unique. */
export const TURNS_PER_MESSAGE = 1024;
/**
 * Turns added to a message later (an operator's replies, `addReplies`) take the upper half of its
 * range: an agent still answering that message writes its own turns from the bottom, unharmed.
 */
export const LATER_TURNS_FROM = TURNS_PER_MESSAGE / 2;

/** The turn numbers `addReplies` may give a message's later turns: [from, to). */
export function laterTurnRange(messageId: number): { from: number; to: number } {
  return { from: messageId * TURNS_PER_MESSAGE + LATER_TURNS_FROM, to: (messageId + 1) * TURNS_PER_MESSAGE };
}
export const chunkOf = (r: OutboundRow) => `chunk ${r.chunk_index + 1}/${r.chunk_count}`;
export const sentDetail = (r: OutboundRow) => (r.platform_message_id === null ? chunkOf(r) : `${chunkOf(r)}, platform id ${r.platform_message_id}`);
const sentFacts = (r: OutboundRow): TimelineFacts => ({ chunk: r.chunk_index + 1, of: r.chunk_count, ...(r.platform_message_id === null ? {} : { platformId: r.platform_message_id }) });

/** A claim after the first, as both stores record it ("attempt 3 by host-1234", claimInbound). */
const RECLAIM = /^attempt (\d+) by (.+)$/;

export function toEvent(r: EventRow): TimelineEvent {
  if (r.detail === null) return { at: r.at, stage: r.stage };
  const reclaim = r.stage === 'claimed' ? RECLAIM.exec(r.detail) : null;
  return { at: r.at, stage: r.stage, detail: r.detail, ...(reclaim ? { facts: { attempt: Number(reclaim[1]), by: reclaim[2]! } } : {}) };
}

/** One message with its timeline, from its row, its stored events (in insertion order) and its reply chunks (by id). */
export function toDetail(row: InboundRow, events: EventRow[], replies: OutboundRow[]): MessageDetail {
  return {
    ...toSummary(row),
    message: JSON.parse(row.message) as ChatMessage,
    // "received" is not stored but derived from created_at (two fewer page writes per enqueue);
    // it was the first event inserted, so a stable sort keeps it first among ties.
    timeline: [
      { at: row.created_at, stage: 'received' },
      ...(row.first_claimed_at === null ? [] : [{ at: row.first_claimed_at, stage: 'claimed', detail: 'attempt 1', facts: { attempt: 1 } }]),
      ...events.map(toEvent),
      ...finishEvent(row),
      ...replies.filter((r) => r.sent_at !== null).map((r) => ({ at: r.sent_at!, stage: 'sent', detail: sentDetail(r), facts: sentFacts(r) })),
    ].sort((a, b) => a.at - b.at),
    replies: replies.map(toOutbound),
  };
}

/** Dead inbound rows and dead outbox rows (each newest first), merged newest dead first. */
export function toDeadLetters(inbound: InboundRow[], outbound: OutboundRow[], limit: number): DeadLetter[] {
  const out: DeadLetter[] = [];
  for (const r of inbound) {
    const msg = JSON.parse(r.message) as ChatMessage;
    out.push({
      kind: 'inbound', id: String(r.id), entryKey: r.entry_key, channelType: r.channel_type,
      conversationId: r.conversation_id, userId: r.user_id, text: msg.content, attempts: r.attempts,
      error: r.last_error ?? '', createdAt: r.created_at, deadAt: r.finished_at ?? r.created_at,
    });
  }
  for (const r of outbound) {
    out.push({
      kind: 'outbound', id: String(r.id), entryKey: r.entry_key, channelType: r.channel_type,
      conversationId: r.conversation_id, userId: r.user_id, text: deadReplyText(r), attempts: r.attempts,
      error: r.last_error ?? '', createdAt: r.created_at, deadAt: r.dead_at ?? r.created_at, replyTo: r.reply_to,
    });
  }
  out.sort((a, b) => b.deadAt - a.deadAt); // stable: ties keep kind, then id descending
  return out.slice(0, limit);
}

/** An image chunk's `text` is its alt text (often empty): the list says it is an image, not a blank reply. */
function deadReplyText(r: OutboundRow): string {
  if (r.image === null) return r.text;
  return r.text ? `[image: ${r.text}]` : '[image]';
}

/** A conversation of `listConversations`, from its aggregate and its latest message's row. */
export function toConversation(
  r: { user_id: string; conversation_id: string; n: number; last_id: number },
  last: Pick<InboundRow, 'created_at' | 'message'> | undefined,
): ConversationSummary {
  const message = last ? (JSON.parse(last.message) as ChatMessage) : undefined;
  return {
    userId: r.user_id,
    conversationId: r.conversation_id,
    messages: r.n,
    lastMessageId: String(r.last_id),
    lastAt: last?.created_at ?? 0,
    lastText: message?.content ?? '',
  };
}

/**
 * The listMessages query for a filter, `param(n)` writing the n-th placeholder of the dialect;
 * undefined when `before` can name no row (the answer is then empty).
 */
/**
 * The message-log query. `contentLike(p)` is the dialect's case-insensitive LIKE of the message's
 * text against parameter `p`, with `\` as the escape character.
 */
export function messagesQuery(
  filter: MessageFilter,
  param: (n: number) => string,
  contentLike: (p: string) => string,
): { sql: string; args: unknown[] } | undefined {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (column: string, op: string, value: unknown) => {
    args.push(value);
    where.push(`${column} ${op} ${param(args.length)}`);
  };
  if (filter.entryKey !== undefined) add('entry_key', '=', filter.entryKey);
  if (filter.userId !== undefined) add('user_id', '=', filter.userId);
  if (filter.conversationId !== undefined) add('conversation_id', '=', filter.conversationId);
  if (filter.status !== undefined) add('status', '=', filter.status);
  if (filter.text !== undefined && filter.text !== '') {
    // Taken literally: % and _ are not wildcards here.
    args.push(`%${filter.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(contentLike(param(args.length)));
  }
  for (const [bound, op] of [[filter.before, '<'], [filter.after, '>']] as const) {
    if (bound === undefined) continue;
    const id = parseId(bound);
    if (id === undefined) return undefined;
    add('id', op, id);
  }
  args.push(clampLimit(filter.limit, 50, 500));
  const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  return { sql: `SELECT * FROM inbound ${cond} ORDER BY id DESC LIMIT ${param(args.length)}`, args };
}

/** How a reply chunk is stored: waiting for the outbox, leased to the worker that stored it, or already delivered. */
export type OutboxState =
  | undefined
  | { lease: { token: string; until: number; owner: string } }
  | { sent: { platformMessageId: string } };

/** A chunk just inserted leased or sent, as `completeInbound` returns it. */
export function storedChunk(r: NewOutbound, id: string, now: number, state: Exclude<OutboxState, undefined>): OutboundItem {
  return 'sent' in state
    ? { ...r, id, status: 'sent', attempts: 1, leaseToken: '', leaseUntil: 0, createdAt: now, sentAt: now, platformMessageId: state.sent.platformMessageId }
    : { ...r, id, status: 'leased', attempts: 1, leaseToken: state.lease.token, leaseUntil: state.lease.until, createdAt: now };
}

/** The insertOutbox parameters, in its column order. */
export function outboxParams(r: NewOutbound, now: number, state?: OutboxState): unknown[] {
  const lease = state && 'lease' in state ? state.lease : undefined;
  const sent = state && 'sent' in state ? state.sent : undefined;
  return [
    r.entryKey, r.channelType, r.conversationId, r.userId, r.idempotencyKey, r.text, r.format, r.chunkIndex, r.chunkCount,
    r.replyTo, r.inReplyTo, r.isGroup ? 1 : 0, r.replyMeta === undefined ? null : JSON.stringify(r.replyMeta),
    sent ? 'sent' : lease ? 'leased' : 'pending', state ? 1 : 0, lease?.token ?? null, lease?.until ?? null, lease?.owner ?? null,
    r.availableAt, r.expiresAt,
    r.expiresAt - now, // max age, kept so that every revive grants the same again
    now,
    sent ? now : null, sent?.platformMessageId ?? null,
    r.image === undefined ? null : JSON.stringify(r.image),
  ];
}

// Pruning works on id ranges rather than on indexes of created_at (SQLite's 0002 dropped them: two
// index writes fewer per message). The horizon is the first id created at or after the cutoff: rows
// before it are old. A clock that went backwards can leave an old row after a younger one; it is
// pruned once that one is old too. `cutoff` and `horizon` are the dialect's parameter markers.
export const horizonSql = (table: 'inbound' | 'feed', id: 'id' | 'seq', cutoff: string) => `SELECT coalesce(
  (SELECT ${id} FROM ${table} WHERE created_at >= ${cutoff} ORDER BY ${id} LIMIT 1),
  (SELECT max(${id}) + 1 FROM ${table}), 0) AS horizon`;
/** A row of `countMessages` as either dialect answers it. */
export interface PeriodCountRow {
  period: number;
  entry_key: string;
  status: InboundStatus;
  n: number;
  finished: number;
  finished_ms: number;
}

export function toPeriodCount(r: PeriodCountRow): PeriodCount {
  return { period: r.period, entryKey: r.entry_key, status: r.status, count: r.n, finished: r.finished, finishedMs: r.finished_ms };
}

/** `countMessages` bounds: ascending epoch ms, 2 to 367 of them (a year of days). */
export function checkPeriodBounds(bounds: readonly number[]): void {
  if (bounds.length < 2 || bounds.length > 367 || bounds.some((b, i) => !Number.isSafeInteger(b) || (i > 0 && b <= bounds[i - 1]!))) {
    throw new RangeError('countMessages: bounds must be 2 to 367 ascending epoch-ms integers');
  }
}

/** The finished-message counts both dialects select, grouped by period, entry and status. */
export const PERIOD_COUNTS = `entry_key, status, count(*) AS n, count(finished_at) AS finished,
  CAST(coalesce(sum(finished_at - created_at), 0) AS BIGINT) AS finished_ms`;

/** Inbound rows (alias `i`) a prune may delete: finished before the horizon, no reply still unsent or dead. */
export const prunableSql = (horizon: string) => `i.id < ${horizon} AND i.status IN ('done', 'fallback') AND NOT EXISTS
  (SELECT 1 FROM outbox o WHERE o.reply_to = CAST(i.id AS TEXT) AND o.status <> 'sent')`;

/** The numbered migrations (`0001_name.sql`) in a folder, in order. */
export function migrationFiles(dir: URL): { version: number; name: string }[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const m = /^(\d+)_[\w.-]+\.sql$/.exec(name);
      return m ? [{ version: Number(m[1]), name }] : [];
    })
    .sort((a, b) => a.version - b.version);
}

/**
 * A take from a rate bucket seen for the first time: it starts full. Later takes happen in one
 * upsert per dialect, whose SET expressions all read the row as it was before the take.
 */
export function firstRateTake(want: number, capacity: number): { taken: number; left: number } {
  const taken = Math.min(want, Math.floor(capacity));
  return { taken, left: capacity - taken };
}

export interface NoticeRow {
  id: number; receiver: string; event: string; body: string; more: number; status: NoticeStatus; attempts: number; created_at: number;
  finished_at: number | null; last_error: string | null; lease_token: string | null;
}

/** A claimed notice: the row as the claim left it. */
export function toNoticeItem(r: NoticeRow): NoticeItem {
  return { id: String(r.id), receiver: r.receiver, event: r.event, body: r.body, more: Number(r.more), attempts: Number(r.attempts), createdAt: Number(r.created_at), leaseToken: r.lease_token! };
}

export function toNoticeSummary(r: NoticeRow): NoticeSummary {
  return {
    id: String(r.id),
    receiver: r.receiver,
    event: r.event,
    body: r.body,
    more: Number(r.more),
    status: r.status,
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    lastError: r.last_error,
  };
}
