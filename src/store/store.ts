import type { ChatMessage, MediaRef, ReplyImage } from '../core/message.js';

/** A signal from another process sharing the store (see Store.signal). */
export interface StoreSignal {
  entryKey: string;
  topic: string;
  body: string;
}

/** A feed item another process appended: which conversation, answering which inbound message. */
export interface FeedAppended {
  entryKey: string;
  conversationId: string;
  replyTo: string;
}

/** What `enqueue` answers. */
export interface Enqueued {
  id: string;
  duplicate: boolean;
  /** When the message was first stored: `now` for a new one, the first enqueue's time for a duplicate. */
  acceptedAt: number;
}

/**
 * The durable heart of CocoCat: mailbox (inbound), outbox (replies), conversation history,
 * the message timeline and the channel feeds. Datastore-agnostic: SQLite and PostgreSQL
 * implement it and pass the same contract suite (`test/contracts/store.contract.ts`).
 *
 * All times are epoch milliseconds passed in by the caller (from the injected Clock), never read
 * from the database or the system clock, so lease and retry logic is testable without sleeping.
 *
 * Leases: a claim returns items with a fresh `leaseToken`. Every later operation on that item
 * passes the token and returns `false` (changing nothing) when the lease was lost (expired and
 * claimed by someone else, or the item is no longer leased). That is how a crashed or stalled
 * worker can never complete a message twice.
 */
export interface Store {
  /** "sqlite" or "postgres". */
  readonly kind: string;
  /**
   * Whether other gateway processes may use this store at the same time (PostgreSQL). What one
   * process counts in memory then sees only its own share of the traffic.
   */
  readonly shared: boolean;

  // ── Mailbox ─────────────────────────────────────────────────────────────────────────────

  /**
   * Stores an inbound message. Unique on (entryKey, dedupKey): a second enqueue with the same
   * pair stores nothing and answers the first one's id with `duplicate: true`, for as long as
   * the first is retained (see `prune`), and the time it was stored (`acceptedAt`, `now` for a
   * new message). Records a "received" timeline event.
   */
  enqueue(item: NewInbound, now: number): Promise<Enqueued>;

  /**
   * Claims up to `limit` inbound messages, oldest first, at most one per conversation:
   * an item is claimable only when it is the oldest not-finished (queued or leased) item of its
   * conversationKey, and either queued with availableAt <= now, or leased with an expired lease.
   * A queued head whose availableAt is in the future blocks its conversation (order is kept).
   * Claiming sets status "leased", increments `attempts`, sets a new token and leaseUntil = now + leaseMs.
   */
  claimInbound(opts: ClaimOptions): Promise<InboundItem[]>;

  /** Extends a live lease to `leaseUntil`. */
  renewInbound(id: string, leaseToken: string, leaseUntil: number): Promise<boolean>;

  /**
   * In one transaction: marks the message done (or "fallback" when the agent failed and the
   * fallback reply was used), inserts its reply chunks into the outbox (each with its
   * idempotency key, unique), appends the history turns, and records the timeline event.
   *
   * Returns false (writing nothing) when the lease was lost. Otherwise, when no earlier reply of
   * the same conversation is still pending or leased: with `result.feed` set, the chunks are
   * appended to the feed and returned as sent; else with `result.claim` set, they are inserted
   * already leased to the caller (attempts 1) and returned, sparing a claim round trip. In every
   * other case the list is empty and the chunks wait, pending, for `claimOutbound`, behind the
   * earlier ones.
   */
  completeInbound(id: string, leaseToken: string, result: InboundResult): Promise<false | OutboundItem[]>;

  /** Puts a leased message back to "queued", available again at `availableAt`; records the error. */
  retryInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean>;

  /**
   * Puts a leased message back to "queued" until `availableAt` without counting the claim as an
   * attempt (`attempts` goes back by one) and without an error: its conversation is not ready yet
   * (more messages may follow, see `InboundResult.absorbed`). Records a "waiting" event with `why`.
   */
  deferInbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; why: string }): Promise<boolean>;

  /**
   * The queued messages of a conversation after message `afterId`, oldest first, up to `limit`:
   * the ones a worker holding `afterId` (its conversation's head) may answer together with it.
   */
  queuedAfter(conversationKey: string, afterId: string, limit: number): Promise<QueuedMessage[]>;

  /** Moves a leased message to the dead letters with the reason; its conversation moves on. */
  deadLetterInbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean>;

  // ── Outbox ──────────────────────────────────────────────────────────────────────────────

  /**
   * Queues reply chunks outside an agent's answer (an operator's reply to a message): pending, each
   * at most once by its idempotency key, sent after whatever of their conversation waits before
   * them. Returns how many were new.
   *
   * With `history`, its turns go into the conversation's history in the same transaction, after
   * the turns of the message the replies answer (`replyTo`) and after earlier such turns of that
   * message, so the agent reads them when it answers again; only when a chunk was new, so a
   * repeated request adds no turn twice.
   */
  addReplies(replies: NewOutbound[], now: number, history?: { key: HistoryKey; turns: HistoryTurn[] }): Promise<number>;

  /**
   * Claims up to `limit` reply chunks, with the same per-conversation rule as `claimInbound`
   * (conversation = entryKey + conversationId; order = insertion order), so the chunks of one
   * reply, and the replies of one conversation, leave in order.
   */
  claimOutbound(opts: ClaimOptions): Promise<OutboundItem[]>;

  /** Marks a chunk delivered; records a "sent" timeline event on the inbound message. */
  markSent(id: string, leaseToken: string, opts: { now: number; platformMessageId?: string }): Promise<boolean>;

  retryOutbound(id: string, leaseToken: string, opts: { now: number; availableAt: number; error: string }): Promise<boolean>;

  deadLetterOutbound(id: string, leaseToken: string, opts: { now: number; error: string }): Promise<boolean>;

  // ── Dead letters ────────────────────────────────────────────────────────────────────────

  listDeadLetters(opts?: { kind?: DeadLetterKind; entryKey?: string; limit?: number }): Promise<DeadLetter[]>;

  /**
   * Puts a dead letter back in line: status "queued"/"pending", available now, attempts reset
   * to 0, and for the outbox a new expiry of now + its original max age. False when not dead.
   */
  reviveDeadLetter(kind: DeadLetterKind, id: string, now: number): Promise<boolean>;

  // ── History ─────────────────────────────────────────────────────────────────────────────

  /** The last `limit` turns of one conversation with one agent, oldest first. */
  loadHistory(key: HistoryKey, limit: number): Promise<HistoryTurn[]>;

  /**
   * Forgets a conversation's history turns written before message `beforeMessageId` (a user's reset):
   * the turns of earlier messages, not of later ones. Returns how many were deleted; running it again
   * deletes nothing more.
   */
  clearHistory(key: HistoryKey, beforeMessageId: string): Promise<number>;

  // ── Timeline and message log ────────────────────────────────────────────────────────────

  /**
   * Replaces an unfinished message's media list (images downloaded on arrival, now held inline,
   * where the platform serves them only for minutes). False when the message is finished or gone.
   */
  keepMedia(messageId: string, media: MediaRef[]): Promise<boolean>;

  /** Adds a timeline event to an inbound message (e.g. an agent error before the fallback). */
  recordEvent(messageId: string, event: { at: number; stage: string; detail?: string }): Promise<void>;

  /** Inbound messages, newest first, filtered. */
  listMessages(filter?: MessageFilter): Promise<MessageSummary[]>;

  /** The smallest and largest message ids stored (an index step each), or undefined when there are none. */
  messageIdRange(): Promise<{ first: string; last: string } | undefined>;

  /** One inbound message with its timeline and its reply chunks. */
  getMessage(id: string): Promise<MessageDetail | undefined>;

  /**
   * The conversations of one entry, most recent first: user id, message count and the latest
   * message, looking at the entry's newest `scan` messages (default 5 000) so the cost stays bounded.
   */
  listConversations(entryKey: string, opts?: { limit?: number; scan?: number }): Promise<ConversationSummary[]>;

  // ── Channel feeds ───────────────────────────────────────────────────────────────────────

  /** Unique on (entryKey, idempotencyKey): a repeat stores nothing and answers the first seq. */
  appendFeed(item: NewFeedItem, now: number): Promise<{ seq: number; duplicate: boolean }>;

  /** Feed items of one conversation with seq > afterSeq, ascending. Seq grows across the whole store. */
  readFeed(entryKey: string, conversationId: string, afterSeq: number, limit: number): Promise<FeedItem[]>;

  /** Feed items that answer one inbound message id, ascending. */
  feedRepliesTo(entryKey: string, messageId: string): Promise<FeedItem[]>;

  /**
   * Shared stores only: calls `listener` when another process appends a feed item (not for this
   * store's own appends, nor for duplicates), so streams and held requests here wake at once.
   * Best effort: a notification may be lost while the store reconnects. Returns an unsubscribe.
   */
  onFeedAppended?(listener: (e: FeedAppended) => void): () => void;

  /**
   * Shared stores only: calls `listener` when another process stored reply chunks for an entry
   * without taking them (it does not run the entry, or its sender was busy), so the process that
   * runs the entry can claim them now rather than at its outbox's next tick. Best effort.
   */
  onOutboxPending?(listener: (entryKey: string) => void): () => void;

  /**
   * Shared stores only: hands `body` (under `topic`, for an entry) to the other processes sharing the
   * store, now; nothing is kept. Best effort: false when it cannot go (over SIGNAL_MAX_BYTES), and a
   * signal may be lost while a process reconnects.
   */
  signal?(entryKey: string, topic: string, body: string): boolean;

  /** Shared stores only: calls `listener` with every signal another process sends. Returns an unsubscribe. */
  onSignal?(listener: (s: StoreSignal) => void): () => void;

  // ── Entry leases ────────────────────────────────────────────────────────────────────────

  /**
   * Takes or extends the lease on an entry that must run in one gateway process at a time (its
   * platform keeps one connection per bot). True when `owner` holds it until `now + leaseMs`: it
   * was free, expired, or already its own. False while another owner's lease runs.
   */
  leaseEntry(entryKey: string, owner: string, now: number, leaseMs: number): Promise<boolean>;

  /** Gives the lease up at once if `owner` holds it, so another process need not wait for it to expire. */
  releaseEntry(entryKey: string, owner: string): Promise<void>;

  // ── Rate limits ─────────────────────────────────────────────────────────────────────────

  /**
   * Takes up to `want` whole tokens from the token bucket `key`, for limits that must hold across
   * every gateway process sharing the store. The bucket holds at most `capacity` tokens and refills
   * at `perSecond` since its last take (never backwards: a `now` older than that refills nothing);
   * a bucket not seen before starts full. Returns how many were taken and how many are left.
   */
  takeRateTokens(key: string, want: number, bucket: RateBucket): Promise<{ taken: number; left: number }>;

  // ── Channel state ───────────────────────────────────────────────────────────────────────

  /**
   * A small value a channel keeps across restarts, and across processes when the store is shared
   * (a long-poll cursor), by entry and name. Undefined when it was never set.
   */
  getChannelState(entryKey: string, name: string): Promise<string | undefined>;

  /**
   * Every entry's channel state values whose name starts with `namePrefix` (every hand-over, say),
   * by entry key and name. Meant for a few rows: the table is read whole.
   */
  listChannelState(namePrefix: string): Promise<ChannelStateRow[]>;

  /** Sets a channel state value; the last write wins. Resolves once it is durable. */
  setChannelState(entryKey: string, name: string, value: string, now: number): Promise<void>;

  /** Deletes a channel state value if it still is `value` (a write since wins). True when it was deleted. */
  deleteChannelState(entryKey: string, name: string, value: string): Promise<boolean>;

  // ── Notices to the team ─────────────────────────────────────────────────────────────────

  /**
   * Queues a notice for the team (ops/notifier.ts). With a `foldKey`, a notice still waiting with
   * the same key (not being sent) takes this one in instead: its `more` grows by one and nothing is
   * added. Resolves once it is durable.
   */
  addNotice(notice: NewNotice, now: number): Promise<void>;

  /**
   * Leases the oldest notice due among each receiver's oldest that nobody is sending (a lease that
   * expired is nobody's: a process that died while sending), skipping the receivers in `skip`. A
   * notice waiting for its retry holds back those after it for the same receiver, so each receiver
   * hears its notices in order. Counts an attempt. Undefined when none is due.
   */
  claimNotice(opts: { now: number; leaseMs: number; skip?: readonly string[] }): Promise<NoticeItem | undefined>;

  /** Ends a leased notice as sent or given up on (`failed`, with the error). False when the lease is not ours. */
  finishNotice(id: string, leaseToken: string, opts: { now: number; outcome: 'sent' | 'failed'; error?: string }): Promise<boolean>;

  /** Puts a leased notice back to wait until `availableAt`, with the error; other notices may then fold into it. */
  retryNotice(id: string, leaseToken: string, opts: { availableAt: number; error: string }): Promise<boolean>;

  /** Makes every notice waiting for a retry due at `now` (the receiver was mended); returns how many. */
  retryNoticesNow(now: number): Promise<number>;

  /** The newest notices first, finished or not (pruned with the messages, after the dedup retention). */
  listNotices(opts?: { limit?: number }): Promise<NoticeSummary[]>;

  // ── Privacy ─────────────────────────────────────────────────────────────────────────────

  /**
   * Deletes what the store keeps of one user of an entry (a request to be forgotten), in one
   * transaction: their finished messages with timelines and reply chunks, and, for the direct chats
   * among them, the conversation's history (every agent's), feed and the channel state that
   * `conversationState` names for it (a hand-over: the store does not know the names). Left as they
   * are: messages not finished yet, or whose replies still wait to go out (`kept`; ask again once
   * they are done), with their direct chat; group conversations' history and feeds, which hold
   * others' words too.
   */
  forgetUser(entryKey: string, userId: string, conversationState: (conversationId: string) => string[]): Promise<ForgottenUser>;

  // ── Housekeeping ────────────────────────────────────────────────────────────────────────

  stats(): Promise<StoreStats>;

  /**
   * Messages received in each period between consecutive `bounds` (epoch ms, ascending, at least
   * two), by entry and status, with the time the finished ones took: one scan of the messages from
   * the first bound on, for the panel's days. Messages pruned past the dedup retention are gone.
   */
  countMessages(bounds: readonly number[]): Promise<PeriodCount[]>;

  /** The oldest message not yet answered and the oldest reply not yet delivered: an index step each, no counting. */
  oldestWaiting(): Promise<OldestWaiting>;

  /** Per entry with any: inbound messages waiting or in work, and dead letters (inbound and outbound). */
  entryBacklog(): Promise<Map<string, EntryBacklog>>;

  /**
   * Per entry with any: the messages waiting for their answer (queued or being answered) and the
   * reply chunks waiting for their delivery (pending or being sent), each with when its oldest came.
   */
  entryWaits(): Promise<Map<string, EntryWaits>>;

  /**
   * Deletes finished inbound messages (done/fallback) created before `now - dedupRetentionMs`
   * (with their timeline and sent outbox rows), and feed items older than `now - feedRetentionMs`.
   * Dead letters are kept. With `historyTurns`, also trims every conversation's history to its
   * newest `historyTurns` turns (not counted in the result). Notices finished before the same
   * cutoff go too. Returns the number of rows deleted.
   */
  prune(now: number, opts: { dedupRetentionMs: number; feedRetentionMs: number; historyTurns?: number }): Promise<number>;

  close(): Promise<void>;
}

/**
 * A rate bucket untouched this long has refilled to full for any window up to a day (the longest a
 * limit uses), the state a missing bucket starts in: `prune` deletes it.
 */
export const RATE_BUCKET_IDLE_MS = 25 * 3_600_000;

export interface RateBucket {
  capacity: number;
  perSecond: number;
  now: number;
}

export interface NewInbound {
  entryKey: string;
  channelType: string;
  targetKind: TargetKind;
  targetId: string;
  /** The platform's message id, or whatever the channel deduplicates on. */
  dedupKey: string;
  /** entryKey + conversation id: the unit of ordering. */
  conversationKey: string;
  message: ChatMessage;
}

export type TargetKind = 'agent' | 'scene';

export interface ClaimOptions {
  now: number;
  leaseMs: number;
  limit: number;
  /** Who claims (process/worker id), for the log. */
  owner: string;
  /** claimOutbound only: entries another process runs (an entry lease), whose chunks are left to it. */
  skipEntries?: readonly string[];
}

export type InboundStatus = 'queued' | 'leased' | 'done' | 'fallback' | 'dead';

export interface InboundItem extends NewInbound {
  id: string;
  status: InboundStatus;
  attempts: number;
  leaseToken: string;
  leaseUntil: number;
  createdAt: number;
  lastError?: string;
}

/** A queued message as `queuedAfter` returns it. */
export interface QueuedMessage {
  id: string;
  createdAt: number;
  message: ChatMessage;
}

export interface InboundResult {
  now: number;
  status: 'done' | 'fallback';
  replies: NewOutbound[];
  history: { key: HistoryKey; turns: HistoryTurn[] };
  /** Timeline detail, e.g. the agent error that led to the fallback. */
  detail?: string;
  /** Lease the reply chunks to the caller on insert when they are next in line (see completeInbound). */
  claim?: { leaseMs: number; owner: string };
  /**
   * Queued messages of the same conversation that this reply answers too (`ids`, from
   * `queuedAfter`): finished in the same transaction with the same status, with `detail` as their
   * timeline detail. If any of them is not a queued message of that conversation any more, the
   * whole completion throws and nothing is written.
   */
  absorbed?: { ids: string[]; detail: string };
  /** A channel state value (see setChannelState) set in the same transaction: a hand-over that comes with the reply saying so. */
  channelState?: { entryKey: string; name: string; value: string };
  /**
   * For an entry whose delivery is its own feed (the Web API): one feed payload per reply chunk.
   * When the chunks are next in line, they are appended to the feed in this transaction and stored
   * as sent (platform message id: the feed seq), and `completeInbound` returns them with status
   * "sent". Otherwise this is ignored and the chunks wait in the outbox as usual, behind the earlier ones.
   */
  feed?: unknown[];
}

export interface NewOutbound {
  entryKey: string;
  channelType: string;
  conversationId: string;
  /** The platform user to answer. */
  userId: string;
  /** Unique: a second insert with the same key is ignored. */
  idempotencyKey: string;
  text: string;
  format: 'text' | 'markdown';
  /** An image chunk: the image to send (`text` is its alt text). */
  image?: ReplyImage;
  chunkIndex: number;
  chunkCount: number;
  /** The inbound message it answers (ours), its platform msgId, and the channel's reply metadata. */
  replyTo: string;
  inReplyTo: string;
  isGroup: boolean;
  replyMeta?: Record<string, unknown>;
  availableAt: number;
  /** Give up (dead-letter) if not delivered by then. */
  expiresAt: number;
}

export type OutboundStatus = 'pending' | 'leased' | 'sent' | 'dead';

export interface OutboundItem extends NewOutbound {
  id: string;
  status: OutboundStatus;
  attempts: number;
  leaseToken: string;
  leaseUntil: number;
  createdAt: number;
  sentAt?: number;
  platformMessageId?: string;
  lastError?: string;
}

export type DeadLetterKind = 'inbound' | 'outbound';

export interface DeadLetter {
  kind: DeadLetterKind;
  id: string;
  entryKey: string;
  channelType: string;
  conversationId: string;
  userId: string;
  /** Inbound: the message content; outbound: the reply text. */
  text: string;
  attempts: number;
  error: string;
  createdAt: number;
  deadAt: number;
  /** For outbound: the inbound message it answered. */
  replyTo?: string;
}

export interface ForgottenUser {
  messages: number;
  replies: number;
  turns: number;
  feedItems: number;
  /** Messages left: not finished yet, or with replies still to send. */
  kept: number;
}

export interface ChannelStateRow {
  entryKey: string;
  name: string;
  value: string;
  updatedAt: number;
}

export interface HistoryKey {
  agentId: string;
  entryKey: string;
  conversationId: string;
}

export interface HistoryTurn {
  role: 'user' | 'assistant';
  content: string;
  at: number;
}

export interface MessageFilter {
  entryKey?: string;
  userId?: string;
  /** One conversation's messages (with `entryKey`: conversation ids are an entry's own). */
  conversationId?: string;
  status?: InboundStatus;
  /** Only messages whose text contains this, literally (Latin letters in any case). Scans: meant for people searching, not for hot paths. */
  text?: string;
  /** Only messages with id < before (paging, newest first). */
  before?: string;
  /** Only messages with id > after: a window of ids, so a search reads a bounded number of messages. */
  after?: string;
  limit?: number;
}

export interface MessageSummary {
  id: string;
  entryKey: string;
  channelType: string;
  targetKind: TargetKind;
  targetId: string;
  userId: string;
  conversationId: string;
  content: string;
  status: InboundStatus;
  attempts: number;
  createdAt: number;
  lastError?: string;
}

export interface TimelineEvent {
  at: number;
  stage: string;
  detail?: string;
  /** The figures of a stock step, for a reader that words it in its own language (the panel in Chinese). */
  facts?: TimelineFacts;
}

/**
 * What `detail` says of a stock step, as data: `claimed` (`attempt`, the process `by`), `replied`
 * (`attempts`, `ms`, and the rest of the detail as written in `more`), `sent` (`chunk` of `of`,
 * the platform's `platformId`).
 */
export interface TimelineFacts {
  attempt?: number;
  by?: string;
  attempts?: number;
  ms?: number;
  more?: string;
  chunk?: number;
  of?: number;
  platformId?: string;
}

export interface MessageDetail extends MessageSummary {
  message: ChatMessage;
  timeline: TimelineEvent[];
  replies: OutboundItem[];
}

export interface NewFeedItem {
  entryKey: string;
  conversationId: string;
  idempotencyKey: string;
  replyTo: string;
  payload: unknown;
}

export interface FeedItem {
  seq: number;
  entryKey: string;
  conversationId: string;
  replyTo: string;
  payload: unknown;
  createdAt: number;
}

export interface ConversationSummary {
  userId: string;
  conversationId: string;
  messages: number;
  lastMessageId: string;
  lastAt: number;
  lastText: string;
}

export interface EntryBacklog {
  /** Queued or leased inbound messages. */
  mailbox: number;
  dead: number;
}

/** What waits on one entry (`entryWaits`); `…Since` is null when nothing does. */
export interface EntryWaits {
  inbound: number;
  inboundSince: number | null;
  outbound: number;
  outboundSince: number | null;
}

/** Messages of one entry and status received in one period (`countMessages`). */
export interface PeriodCount {
  /** The period's index: bounds[period] <= created < bounds[period + 1]. */
  period: number;
  entryKey: string;
  status: InboundStatus;
  count: number;
  /** Of these, how many have finished (done, fallback or dead), and the sum of their times from arrival to finish. */
  finished: number;
  finishedMs: number;
}

export interface StoreStats {
  inboundQueued: number;
  inboundLeased: number;
  inboundDead: number;
  outboundPending: number;
  outboundLeased: number;
  outboundDead: number;
  /** Notices not yet sent nor given up on (waiting or being sent). */
  noticesWaiting: number;
}

export interface NewNotice {
  /** Who hears it (the notifier's name for a receiver; '' by default): each receiver's notices go in order, apart from the others'. */
  receiver?: string;
  /** What the notice is about (`handoff`, `entry_down`…); the store keeps it for the list and the log. */
  event: string;
  /** What the notifier needs to say it (its texts, links), as it wrote it: the store does not read it. */
  body: string;
  /** Notices with the same key fold while one waits (dead letters of one entry). */
  foldKey?: string;
}

export interface NoticeItem {
  id: string;
  receiver: string;
  event: string;
  body: string;
  /** How many notices folded into this one. */
  more: number;
  /** Including this one. */
  attempts: number;
  createdAt: number;
  leaseToken: string;
}

export type NoticeStatus = 'waiting' | 'sending' | 'sent' | 'failed';

export interface NoticeSummary {
  id: string;
  receiver: string;
  event: string;
  body: string;
  more: number;
  status: NoticeStatus;
  attempts: number;
  createdAt: number;
  /** When it was sent or given up on. */
  finishedAt: number | null;
  lastError: string | null;
}

/** How long the store's oldest unfinished work has waited, by when it came in. */
export interface OldestWaiting {
  /** When the oldest message not yet finished arrived (queued or being answered); null when there is none. */
  inboundAt: number | null;
  /** When the oldest reply chunk not yet delivered was stored (pending or being sent); null when there is none. */
  outboundAt: number | null;
}
