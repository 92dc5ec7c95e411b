import type { Agent, AgentReply } from '../agents/agent.js';
import type { AgentOutcome } from '../agents/run-agent.js';
import type { ChannelCapabilities } from '../channels/define.js';
import { DEFAULT_HANDOFF_MINUTES, type AgentProfile, type ContentFilter, type HandoffHours, type KeywordReply, type Pairing } from '../config/schema.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { noticeText, senderName, type Localized } from '../ops/notice-texts.js';
import type { Notice } from '../ops/notifier.js';
import type { HistoryKey, HistoryTurn, InboundItem, OutboundItem, Store } from '../store/store.js';
import { accessRefusal } from './access.js';
import { backoffDelay } from './backoff.js';
import { burstEndsAt, mergeBurst } from './burst.js';
import { describeHours, outsideHours } from './business-hours.js';
import type { Clock } from './clock.js';
import { CocoError, describeError, isCocoError } from './errors.js';
import { lazyChild, type Logger } from './logger.js';
import type { FeedDelivery, ReplyPreview, Typing } from './channel.js';
import { handedOffUntil, handoffState, isHandoffCommand, type HandoffBy } from './handoff.js';
import { filterAnswer, matcherOf } from './content-filter.js';
import { runWithFailover, type ChainedAgent, type FailoverOutcome } from './failover.js';
import { historyFor } from './history-budget.js';
import { keywordReply } from './keyword-replies.js';
import { fetchFiles, fetchImages, readsFiles, readsImages, reserveAgentMedia, type AgentFile, type MediaContent, type MediaFetcher } from './media.js';
import type { ChatMessage } from './message.js';
import { outgoingOf, sendContextOf } from './outbox.js';
import { normalizePairingCode, openPairing, ownerCommand, ownerReplies, pairingByCode, pairingKey, pairingReply, type OwnerCommand, pairingStateName, pairingStep, pendingPairings } from './pairing.js';
import { quoteBlock, withQuote, type QuoteFetcher } from './quote.js';
import { wasRecalled, watchRecall } from './recall.js';
import { historyText, replyChunks } from './reply-chunks.js';
import { pacedPreview } from './reply-preview.js';
import { isResetCommand } from './reset.js';
import type { Routable } from './scene-routes.js';
import type { UserLimits } from './user-limits.js';
import { WorkLoop } from './work-loop.js';

/** A refused user gets the profile's access notice at most this often. */
const NOTICE_DAY_MS = 86_400_000;

/** How long an agent works on a message before the channel shows "typing…" (where it can). */
export const TYPING_AFTER_MS = 500;

/** Who answers a message: resolved from the current workspace when the message is processed. */
export interface ResolvedTarget {
  agentId: string;
  agent: Agent;
  profile: AgentProfile;
  scene?: { id: string; name: string; context: string };
  /** The scene's route that chose the agent (an index of `routes`); none: the lead, or not a scene. */
  route?: number;
  /** The agents the profile's `failover` names, in order. */
  failover?: readonly ChainedAgent[];
}

export interface HeartbeatDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  metrics: GatewayMetrics;
  env: Record<string, string | undefined>;
  /** Throws a CocoError (COCO_ERR_ROUTE_MISSING) when the agent or scene is gone. */
  resolveTarget(targetKind: 'agent' | 'scene', targetId: string, message?: Routable): ResolvedTarget;
  capabilitiesOf(channelType: string): ChannelCapabilities | undefined;
  /** Whether one reply may answer several messages of the entry (see `ChannelCapabilities.mergesBursts`). */
  mergesBursts(entryKey: string): boolean;
  /**
   * Approves or rejects a pairing code of `agentId` for its owner, who sent it in a chat
   * (server/pairing-approval.ts); throws a CocoError when it cannot be.
   */
  approvePairing?(code: string, agentId: string): Promise<{ userId: string; userName?: string; entryKey: string; changes: string[]; notified: boolean }>;
  rejectPairing?(code: string, agentId: string): Promise<{ code: string; userId: string; userName?: string; entryKey: string }>;
  /** Tells people (ops/notifier.ts): a hand-over, a pairing request, a message given up on. */
  notify?(notice: Notice): void;
  /** Each agent run's outcome, failover agents' too, for the team's `agent_down` notice (ops/health-watch.ts). */
  agentOutcome?: (agentId: string, outcome: AgentOutcome) => void;
  /** Wakes the outbox after replies were written that it must claim itself. */
  onReplies(): void;
  /** Delivers reply chunks the store leased to this worker on completion. */
  deliver(items: OutboundItem[]): void;
  /**
   * Whether `deliver` takes this entry's replies now; when not (the sender is busy, or another
   * process runs the entry), they are stored for an outbox loop instead.
   */
  canDeliver(entryKey: string): boolean;
  /** The running channel's feed delivery when its replies are appended to its feed on completion. */
  feedDeliveryOf(entryKey: string): FeedDelivery | undefined;
  /** The running channel's typing indicator for a message, when it shows one (not when another process runs the entry). */
  typingOf?(entryKey: string, message: InboundItem['message']): Typing | undefined;
  /** The running channel's preview of a reply being written, when someone can see it now (same rule as typingOf). */
  previewOf?(entryKey: string, message: InboundItem['message'], messageId: string): ReplyPreview | undefined;
  /** Downloads an entry's media (images for agents that read them); undefined when its channel cannot. */
  mediaOf?(entryKey: string): MediaFetcher | undefined;
  /** Reads what an entry's messages quote, where its channel gets only the quoted message's id; undefined otherwise. */
  quoteOf?(entryKey: string): QuoteFetcher | undefined;
  /** Per-user limits (`user_limit` in a profile); without it, none are applied. */
  userLimits?: UserLimits;
  /** Counts a reply chunk delivered on completion (the outbox counts the ones it sends). */
  onSent(entryKey: string): void;
  /** Tells the running channel that a message was finished without any reply (see Channel.finishedWithoutReply). */
  finishedWithoutReply?(entryKey: string, messageId: string): void;
  concurrency: number;
  leaseMs: number;
  maxAttempts: number;
  outboxMaxAgeMs: number;
  owner: string;
  tickMs?: number;
}

/**
 * The consumer: claims mailbox messages (one per conversation at a time), runs the agent, and in
 * one transaction writes the reply to the outbox, appends history and acks the message.
 */
export class Heartbeat {
  private readonly loop: WorkLoop<InboundItem>;
  private readonly leases = new Map<string, { item: InboundItem; onLost: () => void }>();
  private cancelRenewals?: () => void;
  private readonly wakeUps = new Set<() => void>();

  constructor(private readonly deps: HeartbeatDeps) {
    this.loop = new WorkLoop({
      name: 'heartbeat',
      clock: deps.clock,
      log: deps.log,
      concurrency: deps.concurrency,
      tickMs: deps.tickMs ?? 1_000,
      claim: (limit) => deps.store.claimInbound({ now: deps.clock.now(), leaseMs: deps.leaseMs, limit, owner: deps.owner }),
      process: (item, signal) => this.process(item, signal),
    });
  }

  start(): void {
    // A third of the lease: two renewals can fail before anyone else may claim the message.
    this.cancelRenewals ??= this.deps.clock.every(Math.max(250, Math.floor(this.deps.leaseMs / 3)), () => this.renewAll());
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  get inFlight(): number {
    return this.loop.inFlight;
  }

  /** Stops claiming, aborts running agents and releases their messages for the next start. */
  async stop(): Promise<void> {
    await this.loop.stop();
    this.cancelRenewals?.();
    for (const cancel of this.wakeUps) cancel();
    this.wakeUps.clear();
  }

  private async process(claimed: InboundItem, shutdown: AbortSignal): Promise<void> {
    const { store, clock, metrics } = this.deps;
    const log = lazyChild(this.deps.log, { entry: claimed.entryKey, messageId: claimed.id, msgId: claimed.message.msgId });
    let target: ResolvedTarget;
    try {
      target = this.deps.resolveTarget(claimed.targetKind, claimed.targetId, claimed);
    } catch (err) {
      await store.deadLetterInbound(claimed.id, claimed.leaseToken, { now: clock.now(), error: describeError(err) });
      metrics.failed.inc({ channel: claimed.channelType, reason: 'route' });
      log.error({ err: describeError(err) }, 'message dead-lettered: no route');
      this.announce(claimed, 'dead_letter', noticeText.messageDead(senderName(claimed.message), claimed.entryKey, describeError(err)));
      return;
    }
    const { message } = claimed;
    const owner = target.profile.access?.owners?.includes(message.userId) === true;
    // In a group, an owner's command is one addressed to the agent.
    const command = owner && message.msgType === 'text' && (!message.isGroup || message.mentionsBot) ? ownerCommand(message.content, message.isGroup) : undefined;
    if (command) {
      await this.answerOwner(claimed, target, command, log);
      return;
    }
    const refusal = accessRefusal(target.profile.access, claimed.message);
    if (refusal !== undefined) {
      await this.refuse(claimed, target, refusal, log);
      return;
    }
    const recalls = this.deps.capabilitiesOf(claimed.channelType)?.recalls === true;
    if (recalls && (await this.recalled(claimed, target, log))) return;
    if (await this.handedOff(claimed, target, log)) return;
    if (isResetCommand(target.profile.reset, claimed.message)) {
      await this.reset(claimed, target, log);
      return;
    }
    if (isHandoffCommand(target.profile.handoff, claimed.message)) {
      await this.userAsksForPerson(claimed, target, log);
      return;
    }
    const canned = keywordReply(target.profile.keyword_replies, claimed.message);
    if (canned) {
      await this.answerByKeyword(claimed, target, canned, log);
      return;
    }
    let burst: Awaited<ReturnType<Heartbeat['gather']>>;
    try {
      burst = await this.gather(claimed, target, recalls, log);
    } catch (err) {
      await this.retryOrBury(claimed, err, log);
      return;
    }
    if (!burst) return; // back in the queue until the user pauses
    // From here on the item is the burst: the claimed message's id and lease, the merged message.
    const { item, absorbed } = burst;

    const historyKey = historyKeyOf(target, item);
    const filter = target.profile.content_filter;
    if (filter?.incoming === 'refuse' && matcherOf(filter).find(item.message.content).length > 0) {
      // Not for the agent, and not worth a user limit's token. The log says that it held one, never which.
      metrics.filtered.inc({ channel: item.channelType, direction: 'incoming' });
      log.info('message holds a filtered word; not answered by the agent');
      try {
        await this.notAnswered(item, { why: 'not answered: it holds a filtered word', notice: filter.reply, sent: 'filter reply sent', historyKey, absorbed }, log);
      } catch (err) {
        await this.retryOrBury(item, err, log);
      }
      return;
    }
    const limit = target.profile.user_limit;
    const userKey = limit ? `${item.targetKind}:${item.targetId}:${item.entryKey}:${item.message.userId}` : '';
    if (limit && this.deps.userLimits) {
      try {
        const verdict = await this.deps.userLimits.take(userKey, limit);
        if (!verdict.ok) {
          // Not for the agent: the notice (at most once a minute) or nothing; the message log says why.
          // A Web API client waits for an answer to each request: it gets the notice every time.
          const notify = verdict.notify || this.deps.feedDeliveryOf(item.entryKey) !== undefined;
          metrics.limited.inc({ channel: item.channelType });
          log.info({ why: verdict.why, notice: notify }, 'user over the limit; not answered by the agent');
          await this.notAnswered(item, { why: verdict.why, notice: notify ? limit.notice : undefined, historyKey, absorbed }, log);
          return;
        }
      } catch (err) {
        await this.retryOrBury(item, err, log);
        return;
      }
    }

    const lease = this.keepLease(item, shutdown, log);
    // Only an agent that takes a while gets an indicator: no flicker, and no platform calls for instant answers.
    let typing: Typing | undefined;
    const caps = this.deps.capabilitiesOf(item.channelType);
    const cancelTyping = caps?.typing ? clock.timeout(TYPING_AFTER_MS, () => (typing = this.typing(item, log))) : undefined;
    // An agent streams as its profile says (`stream`); it is asked to only where the channel can show it.
    const preview = target.agent.streams === true && caps?.streaming ? this.preview(item, log) : undefined;
    const stopIndicators = () => {
      cancelTyping?.();
      typing?.stop();
      preview?.stop();
    };
    let releaseMedia = () => {};
    // Text on screen says more than "typing…": once it shows, no indicator is started.
    const agentStarted = clock.now();
    let shownText = false;
    const onText =
      preview &&
      ((text: string) => {
        if (!shownText) {
          shownText = true;
          cancelTyping?.();
          metrics.agentFirstText.observe({ provider: target.agent.provider }, (clock.now() - agentStarted) / 1000);
        }
        // Masked as the answer will be: a preview never shows a filtered word, even for a moment.
        preview.update(filter ? matcherOf(filter).mask(text).text : text);
      });
    try {
      const window = target.agent.usesHistory === false ? 0 : target.profile.history_window;
      const history = window > 0 ? historyFor(await store.loadHistory(historyKey, window), target.profile, item.createdAt) : [];
      // With what it quotes, where the channel reads that on demand: its words, and its images and files.
      const quotes = this.deps.quoteOf?.(item.entryKey);
      const message = quotes ? await this.quoted(item, quotes, history, lease.signal, log) : item.message;
      const quoting = message === item.message ? item : { ...item, message };
      const wants = { images: readsImages(target.profile), files: readsFiles(target.profile) };
      // Held until the agent has answered: the downloads live that long.
      releaseMedia = await reserveAgentMedia(message, wants, lease.signal);
      const images = wants.images ? await this.media('image', quoting, lease.signal, log) : [];
      const files = wants.files ? await this.media('file', quoting, lease.signal, log) : [];
      // Where the platform reports recalls, a recall while the agent works stops its call.
      const watch = recalls && item.message.msgId ? watchRecall({ store, clock }, item.entryKey, item.message.msgId, lease.signal) : undefined;
      const answered = await runWithFailover(
        target,
        target.failover ?? [],
        {
          agentId: target.agentId,
          message,
          messageId: item.id,
          history: history.map(({ role, content }) => ({ role, content })),
          scene: target.scene,
          ...(images.length > 0 ? { images } : {}),
          ...(files.length > 0 ? { files } : {}),
          ...(onText ? { onText } : {}),
        },
        { clock, log, env: this.deps.env, signal: watch?.signal ?? lease.signal, onOutcome: this.deps.agentOutcome },
      ).finally(() => watch?.stop());
      releaseMedia();
      stopIndicators(); // typing and preview: before the reply is sent
      // A run stopped by a recall is neither an answer nor a fallback: not timed.
      const stoppedByRecall = watch?.signal.aborted === true && !lease.signal.aborted;
      if (!stoppedByRecall) metrics.agentLatency.observe({ provider: target.agent.provider, outcome: answered.ok ? 'ok' : 'fallback' }, answered.latencyMs / 1000);
      if (answered.failed && answered.failed.length > 0 && !stoppedByRecall) metrics.agentFailovers.inc({ outcome: answered.ok ? 'answered' : 'failed' });
      if (lease.signal.aborted) {
        // Not answered: leave it for the next claim (after restart or by whoever holds the lease now).
        if (!lease.isLost()) await store.retryInbound(item.id, item.leaseToken, { now: clock.now(), availableAt: clock.now(), error: 'gateway stopping' });
        return;
      }
      // Recalled while the agent worked: its answer would show what the user withdrew.
      if (recalls && (await this.recalled(item, target, log, absorbed))) return;
      const outcome = this.deskClosed(this.screened(failoverNoted(answered), filter, item), target.profile.handoff?.hours);
      if (!outcome.ok) {
        // The last attempt's own code says most (COCO_ERR_AGENT_TIMEOUT, COCO_ERR_AGENT_CONTEXT…).
        const cause = outcome.error.cause ?? outcome.error;
        const code = isCocoError(cause) ? cause.code : outcome.error.code;
        log.error({ code, err: describeError(cause), attempts: outcome.attempts }, 'agent failed; sending fallback reply');
        await store.recordEvent(item.id, { at: clock.now(), stage: 'agent_error', detail: `${code}: ${describeError(cause)}` });
      }
      const now = clock.now();
      const turns = userTurn(target, item, now, message);
      // An agent that answers later only (`later` with nothing to say now) sends nothing now; its later reply joins the history when it comes.
      const nothingNow = outcome.ok && outcome.reply.later === true && outcome.reply.text.trim() === '' && !outcome.reply.images?.length;
      if (outcome.ok && !nothingNow && turns.length > 0) turns.push({ role: 'assistant', content: historyText(outcome.reply), at: now });
      // A group may rather see nothing than an apology (fallback_in_groups: false); the message log still says what failed.
      const quiet = (!outcome.ok && item.message.isGroup && !target.profile.fallback_in_groups) || nothingNow;
      // An agent that hands the conversation to a person (an http agent's `handoff`): with its answer, in one transaction.
      const asked = outcome.ok ? outcome.reply.handoff : undefined;
      const handoff = asked && { until: now + (asked.minutes ?? target.profile.handoff?.minutes ?? DEFAULT_HANDOFF_MINUTES) * 60_000, by: 'agent' as const };
      const completed = await this.complete(
        item,
        {
          status: outcome.ok ? 'done' : 'fallback',
          ...(quiet ? {} : { reply: outcome.reply }),
          turns,
          historyKey,
          absorbed,
          detail: outcome.ok
            ? answeredDetail(outcome, handoff?.until, target)
            : `${outcome.error.message}${historyCutDetail(outcome)}${notesDetail(outcome)}${quiet ? ' (no fallback reply in groups)' : ''}`,
          ...(handoff ? { handoff } : {}),
        },
        log,
      );
      if (!completed) return;
      if (handoff) {
        metrics.handoffs.inc({ channel: item.channelType, by: 'agent' });
        this.announce(item, 'handoff', noticeText.agentHandedOver(target.agentId, senderName(item.message), item.entryKey));
      }
      const usage = outcome.ok ? outcome.reply.usage : undefined;
      if (usage) {
        const labels = { agent: target.agentId, provider: target.agent.provider };
        metrics.agentTokens.inc({ ...labels, kind: 'prompt' }, usage.promptTokens);
        metrics.agentTokens.inc({ ...labels, kind: 'completion' }, usage.completionTokens);
        if (limit?.tokens_per_day !== undefined) {
          // The answer is stored already: a failure here costs the budget's accuracy, not the message.
          await this.deps.userLimits
            ?.spend(userKey, limit, usage.promptTokens + usage.completionTokens)
            .catch((err: unknown) => log.warn({ err: describeError(err) }, 'tokens not counted against the user limit'));
        }
      }
      if (outcome.ok) metrics.processed.inc({ channel: item.channelType });
      else metrics.failed.inc({ channel: item.channelType, reason: 'agent' });
    } catch (err) {
      await this.retryOrBury(item, err, log);
    } finally {
      releaseMedia();
      stopIndicators();
      lease.release();
    }
  }

  /**
   * A sender the profile's `access` refuses: finished without the agent, with its `notice` in a
   * direct chat (never to a blocked user) at most once a day per user, or with nothing; the message
   * log says why. A Web API client, which waits for each answer, gets the notice every time.
   */
  private async refuse(item: InboundItem, target: ResolvedTarget, refusal: { why: string; blocked: boolean }, log: Logger): Promise<void> {
    const { why, blocked } = refusal;
    // A Web API client waits for an answer to each request: it gets the notice (or its code) every time.
    const alwaysAnswer = this.deps.feedDeliveryOf(item.entryKey) !== undefined;
    // Strangers in direct chats pair; a group only with `groups`, and only when someone addresses the agent there.
    const offered = blocked ? undefined : target.profile.access?.pairing;
    const group = item.message.isGroup;
    const pairing = group && !(offered?.groups && item.message.mentionsBot) ? undefined : offered;
    try {
      this.deps.metrics.refused.inc({ channel: item.channelType });
      const historyKey = historyKeyOf(target, item);
      const step = pairing && (await this.pairingFor(item, target, pairing, alwaysAnswer));
      if (step && 'send' in step) {
        log.info({ agent: step.send.agentId, expiresAt: step.send.expiresAt, group }, 'sender refused by access; pairing code sent');
        const state = { name: pairingStateName(step.send.agentId, pairingKey(step.send)), value: JSON.stringify(step.send) };
        const sent = group ? "the group's pairing code sent" : 'pairing code sent';
        const stored = await this.notAnswered(item, { why: `not answered: ${why}`, notice: pairingReply(pairing, step.send.code, group), sent, historyKey, absorbed: [], state }, log);
        if (stored && step.fresh) {
          this.deps.metrics.pairing.inc({ channel: item.channelType, event: 'requested' });
          const code = step.send.code;
          const text = group
            ? noticeText.groupPairing(senderName(item.message), step.send.agentId, item.entryKey, code)
            : noticeText.pairing(senderName(item.message), step.send.agentId, item.entryKey, code);
          this.announce(item, 'pairing', text);
        }
        return;
      }
      if (step && 'quiet' in step) {
        log.info(group ? "group refused by access; its pairing code was sent a moment ago" : 'sender refused by access; their pairing code was sent a moment ago');
        const at = new Date(step.quiet.sentAt).toISOString();
        await this.notAnswered(item, { why: `not answered: ${why}; pairing code sent at ${at} already`, notice: undefined, historyKey, absorbed: [] }, log);
        return;
      }
      const full = step ? `; ${pairing!.max_pending} pairing requests wait already` : '';
      const notice = blocked ? undefined : target.profile.access?.notice;
      const due = async () =>
        alwaysAnswer ||
        (await this.deps.userLimits?.noticeDue(`access:${item.targetKind}:${item.targetId}:${item.entryKey}:${item.message.userId}`, NOTICE_DAY_MS)) !== false;
      const notify = notice !== undefined && !item.message.isGroup && (await due());
      log.info({ why: why + full, notice: notify }, 'sender refused by access; not answered by the agent');
      await this.notAnswered(item, { why: `not answered: ${why}${full}`, notice: notify ? notice : undefined, historyKey, absorbed: [] }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
  }

  /**
   * The agent's answer under the profile's content filter: filtered words masked, or the answer
   * replaced, before it is stored, sent or kept in the history; its note says so in the message log.
   */
  private screened(outcome: NotedOutcome, filter: ContentFilter | undefined, item: InboundItem): NotedOutcome {
    if (!outcome.ok || !filter) return outcome;
    const { text, hits } = filterAnswer(filter, outcome.reply.text);
    if (hits === 0) return outcome;
    this.deps.metrics.filtered.inc({ channel: item.channelType, direction: 'outgoing' });
    const note = filter.outgoing === 'mask' ? `${hits} filtered word(s) masked` : 'the answer held a filtered word: replaced by the filter reply';
    return withNote({ ...outcome, reply: { ...outcome.reply, text } }, note);
  }

  /**
   * An agent's hand-over outside `handoff.hours`: not made (nobody would answer), and the user is
   * told so after the agent's words, which likely promised a person.
   */
  private deskClosed(outcome: NotedOutcome, hours: HandoffHours | undefined): NotedOutcome {
    const why = outcome.ok && outcome.reply.handoff && hours ? outsideHours(hours, this.deps.clock.now()) : undefined;
    if (!outcome.ok || !hours || why === undefined) return outcome;
    const { handoff: _asked, ...reply } = outcome.reply;
    const text = reply.text.trim() === '' ? hours.closed_reply : `${reply.text}\n\n${hours.closed_reply}`;
    const note = `the agent asked for a person outside handoff.hours (${describeHours(hours)}; ${why}): not handed over, closed_reply added`;
    return withNote({ ...outcome, reply: { ...reply, text } }, note);
  }

  /**
   * An owner's command (`access.owners`): approve or reject a pairing code, or list the open ones.
   * Answered by the gateway, not the agent, and kept out of the history. In a group, only that
   * group's own code, and an approval the group is told of (`group_approved_reply`) needs no answer
   * of its own.
   */
  private async answerOwner(item: InboundItem, target: ResolvedTarget, command: OwnerCommand, log: Logger): Promise<void> {
    const now = this.deps.clock.now();
    const say = ownerReplies[target.profile.language];
    let text: string | undefined;
    let detail: string;
    try {
      if ('list' in command) {
        detail = "owner's command: list the pairing requests";
        const open = await pendingPairings(this.deps.store, now, target.agentId);
        text = open.length === 0 ? say.none : say.list(open.map(say.line));
      } else {
        const [verb, code] = 'approve' in command ? (['approve', command.approve] as const) : (['reject', command.reject] as const);
        detail = `owner's command: ${verb} ${code}`;
        const { approvePairing, rejectPairing } = this.deps;
        if (!approvePairing || !rejectPairing) throw new CocoError('COCO_ERR_INTERNAL', 'pairing approvals are not available in this process');
        // Done for this agent only; what the owner typed wrong, or a code not open, is said back to them.
        const said = (err: unknown) => {
          if (isUnknownCode(err)) return say.unknown(code, err.message);
          throw err;
        };
        const here = item.message.isGroup ? { entryKey: item.entryKey, conversationId: item.message.conversationId } : undefined;
        if (here && (await this.notThisGroupsCode(code, target.agentId, here, now))) text = say.notThisGroup(code);
        else if (verb === 'approve') text = await approvePairing(code, target.agentId).then((done) => (here && done.notified ? undefined : say.approved(done)), said);
        else text = await rejectPairing(code, target.agentId).then((done) => (here ? say.rejectedHere(done.code) : say.rejected(done)), said);
      }
      log.info({ command: Object.keys(command)[0] }, "owner's command answered");
      const reply = text === undefined ? {} : { reply: { text, format: 'text' as const } };
      await this.complete(item, { status: 'done', ...reply, turns: [], historyKey: historyKeyOf(target, item), absorbed: [], detail }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
  }

  /**
   * Whether `code` is open but not the request of the group `here`: an owner decides on other requests
   * in a direct chat, where the group does not see who asked. False for a code that is not open (the
   * approval says so).
   */
  private async notThisGroupsCode(code: string, agentId: string, here: { entryKey: string; conversationId: string }, now: number): Promise<boolean> {
    try {
      const r = await pairingByCode(this.deps.store, normalizePairingCode(code), now, agentId);
      return !(r.group && r.entryKey === here.entryKey && r.conversationId === here.conversationId);
    } catch (err) {
      if (isUnknownCode(err)) return false;
      throw err;
    }
  }

  /** A stranger's pairing request (core/pairing.ts): a new one, the open one again, or none. */
  private async pairingFor(item: InboundItem, target: ResolvedTarget, pairing: Pairing, alwaysAnswer: boolean) {
    const now = this.deps.clock.now();
    const { userId, userName, conversationId, isGroup } = item.message;
    const open = await openPairing(this.deps.store, item.entryKey, target.agentId, pairingKey({ userId, conversationId, group: isGroup }), now);
    // Two strangers writing at once may both get a code past max_pending: the limit keeps the list short, it guards nothing.
    const pending = open ? 0 : (await pendingPairings(this.deps.store, now, target.agentId)).length;
    return pairingStep(pairing, {
      open,
      pending,
      now,
      alwaysAnswer,
      newRequest: () => ({ agentId: target.agentId, userId, ...(userName ? { userName } : {}), conversationId, ...(isGroup ? { group: true as const } : {}), messageId: item.id }),
    });
  }

  /**
   * A message its sender recalled before the agent answered it (`core/recall.ts`; asked for channels
   * with `capabilities.recalls`): finished without a reply; the message log says so. True when it was.
   */
  private async recalled(item: InboundItem, target: ResolvedTarget, log: Logger, absorbed: string[] = []): Promise<boolean> {
    const { store, metrics } = this.deps;
    if (!item.message.msgId) return false;
    try {
      if (!(await wasRecalled(store, item.entryKey, item.message.msgId))) return false;
      metrics.recalled.inc({ channel: item.channelType });
      log.info('message recalled by its sender; not answered');
      await this.notAnswered(item, { why: 'not answered: its sender recalled it', notice: undefined, historyKey: historyKeyOf(target, item), absorbed }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
    return true;
  }

  /**
   * A conversation handed to a person (`core/handoff.ts`): its message is finished without the agent
   * and without a reply, for the operator to answer; the message log says so. True when it was.
   */
  private async handedOff(item: InboundItem, target: ResolvedTarget, log: Logger): Promise<boolean> {
    const { store, clock, metrics } = this.deps;
    try {
      const until = await handedOffUntil(store, item.entryKey, item.message.conversationId, clock.now());
      if (until === undefined) return false;
      metrics.handedOff.inc({ channel: item.channelType });
      log.info({ until }, 'conversation handed to a person; not answered by the agent');
      const historyKey = historyKeyOf(target, item);
      const why = `not answered: the conversation is with a person until ${new Date(until).toISOString()}`;
      // Kept in the history (with the operator's replies, see addReplies): the agent takes the conversation back knowing it.
      const turns = userTurn(target, item, clock.now());
      await this.notAnswered(item, { why, notice: undefined, historyKey, absorbed: [], turns }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
    return true;
  }

  /**
   * A reset command: the conversation's history up to it is forgotten, and the user gets the profile's
   * reply. Clearing twice is harmless, so a crash before the completion only repeats it.
   */
  private async reset(item: InboundItem, target: ResolvedTarget, log: Logger): Promise<void> {
    const historyKey = historyKeyOf(target, item);
    try {
      const forgotten = await this.deps.store.clearHistory(historyKey, item.id);
      log.info({ forgotten }, 'conversation reset by the user');
      const reply = { text: target.profile.reset!.reply, format: 'text' as const };
      await this.complete(item, { status: 'done', reply, turns: [], historyKey, absorbed: [], detail: `conversation reset: ${forgotten} earlier turn(s) forgotten` }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
  }

  /**
   * A message a keyword reply fits: answered with the rule's reply at once, without the agent. Both
   * turns go into the history, so the agent knows later what the user was told.
   */
  private async answerByKeyword(item: InboundItem, target: ResolvedTarget, canned: { rule: KeywordReply; index: number }, log: Logger): Promise<void> {
    log.debug({ rule: canned.index }, 'answered by a keyword reply');
    const detail = `answered by keyword reply #${canned.index + 1}, without the agent`;
    if (await this.answerFixed(item, target, canned.rule.reply, detail, log)) this.deps.metrics.keywordReplies.inc({ channel: item.channelType });
  }

  /**
   * Answers with a fixed text instead of the agent; both turns go into the agent's history, so it
   * knows later what the user was told. True when the answer was stored.
   */
  private async answerFixed(item: InboundItem, target: ResolvedTarget, text: string, detail: string, log: Logger): Promise<boolean> {
    const now = this.deps.clock.now();
    try {
      const turns = userTurn(target, item, now);
      if (turns.length > 0) turns.push({ role: 'assistant', content: text, at: now });
      const reply = { text, format: 'text' as const };
      return await this.complete(item, { status: 'done', reply, turns, historyKey: historyKeyOf(target, item), absorbed: [], detail }, log);
    } catch (err) {
      await this.retryOrBury(item, err, log);
      return false;
    }
  }

  /**
   * A user asking for a person (`handoff.commands`, 转人工): the conversation goes to an operator for
   * the profile's minutes, and the user gets its reply, in the completion's transaction, without the
   * agent. The message stays in the agent's history, so it knows later that the user asked.
   */
  private async userAsksForPerson(item: InboundItem, target: ResolvedTarget, log: Logger): Promise<void> {
    const settings = target.profile.handoff!;
    const now = this.deps.clock.now();
    const until = now + settings.minutes * 60_000;
    const closed = settings.hours && outsideHours(settings.hours, now);
    if (closed) {
      await this.answerDeskClosed(item, target, settings.hours!, closed, log);
      return;
    }
    try {
      log.info({ until }, 'the user asked for a person; conversation handed over');
      const completed = await this.complete(
        item,
        {
          status: 'done',
          reply: { text: settings.reply, format: 'text' },
          turns: userTurn(target, item, now),
          historyKey: historyKeyOf(target, item),
          absorbed: [],
          detail: `handed to a person at the user's request until ${new Date(until).toISOString()}`,
          handoff: { until, by: 'user' },
        },
        log,
      );
      if (completed) {
        this.deps.metrics.handoffs.inc({ channel: item.channelType, by: 'user' });
        this.announce(item, 'handoff', noticeText.askedForPerson(senderName(item.message), item.entryKey));
      }
    } catch (err) {
      await this.retryOrBury(item, err, log);
    }
  }

  /** A user asked for a person outside `handoff.hours`: told so, and the agent keeps the conversation (both turns go into its history). */
  private async answerDeskClosed(item: InboundItem, target: ResolvedTarget, hours: HandoffHours, why: string, log: Logger): Promise<void> {
    log.info({ why }, 'the user asked for a person outside handoff.hours; not handed over');
    const detail = `not handed over: the user asked for a person outside handoff.hours (${describeHours(hours)}; ${why}); closed_reply sent`;
    await this.answerFixed(item, target, hours.closed_reply, detail, log);
  }

  /** Finishes a message the agent does not see: with the notice, or with nothing; the detail says which. */
  private notAnswered(
    item: InboundItem,
    o: {
      why: string; notice: string | undefined; historyKey: HistoryKey; absorbed: string[]; turns?: HistoryTurn[];
      /** What the notice is, for the detail ("notice sent" unless said). */
      sent?: string;
      /** Entry state stored with the completion. */
      state?: { name: string; value: string };
    },
    log: Logger,
  ) {
    const reply = o.notice === undefined ? undefined : { text: o.notice, format: 'text' as const };
    const detail = `${o.why}; ${reply ? (o.sent ?? 'notice sent') : 'no reply'}`;
    return this.complete(item, { status: 'done', reply, turns: o.turns ?? [], historyKey: o.historyKey, absorbed: o.absorbed, detail, state: o.state }, log);
  }

  /**
   * Stores the reply (if any) and acks the message in one transaction, then hands the chunks that
   * are next in line to their delivery. False when the lease was lost (another worker answers it).
   */
  private async complete(
    item: InboundItem,
    result: {
      status: 'done' | 'fallback'; reply?: Pick<AgentReply, 'text' | 'format' | 'images'>; turns: HistoryTurn[]; historyKey: HistoryKey;
      /** The messages of the burst after this one (see `gather`), answered with it. */
      absorbed: string[];
      detail: string;
      /** Hands the conversation to a person, in the same transaction as the reply. */
      handoff?: { until: number; by: HandoffBy };
      /** Other entry state set in the same transaction (a pairing request with the reply carrying its code). */
      state?: { name: string; value: string };
    },
    log: Logger,
  ): Promise<boolean> {
    const now = this.deps.clock.now();
    const caps = this.deps.capabilitiesOf(item.channelType);
    const replies = result.reply ? replyChunks(item, result.reply, caps, { now, maxAgeMs: this.deps.outboxMaxAgeMs, keyPrefix: item.id }) : [];
    const feed = this.deps.feedDeliveryOf(item.entryKey);
    const { absorbed } = result;
    const completed = await this.deps.store.completeInbound(item.id, item.leaseToken, {
      now,
      status: result.status,
      replies,
      feed: feed && replies.map((r) => feed.payload(outgoingOf(r), r.userId, sendContextOf(r))),
      history: { key: result.historyKey, turns: result.turns },
      detail: absorbed.length > 0 ? `${result.detail}; with ${absorbed.map((id) => `#${id}`).join(', ')}` : result.detail,
      claim: this.deps.canDeliver(item.entryKey) ? { leaseMs: this.deps.leaseMs, owner: this.deps.owner } : undefined,
      ...(absorbed.length > 0 ? { absorbed: { ids: absorbed, detail: `answered with #${item.id}` } } : {}),
      ...(result.handoff ? { channelState: handoffState(item.entryKey, item.message.conversationId, result.handoff.until, result.handoff.by) } : {}),
      ...(result.state ? { channelState: { entryKey: item.entryKey, ...result.state } } : {}),
    });
    if (!completed) {
      log.warn('lease lost before the reply was stored; another worker answers this message');
      return false;
    }
    if (absorbed.length > 0) this.deps.metrics.merged.inc({ channel: item.channelType }, absorbed.length);
    if (replies.length === 0) {
      for (const id of [item.id, ...absorbed]) this.deps.finishedWithoutReply?.(item.entryKey, id);
    }
    // Next in line: in the feed already, or delivered at once. Otherwise they wait behind earlier replies for the outbox loop.
    for (const o of completed) {
      if (o.status !== 'sent') continue;
      feed?.delivered(o.userId, sendContextOf(o));
      this.deps.metrics.outboxSent.inc({ channel: o.channelType });
      this.deps.onSent(o.entryKey);
    }
    const leased = completed.filter((o) => o.status === 'leased');
    if (leased.length > 0) this.deps.deliver(leased);
    else if (completed.length === 0 && replies.length > 0) this.deps.onReplies();
    return true;
  }

  /**
   * With a profile's `debounce`, on an entry that allows it (`mergesBursts`): the claimed message
   * and the queued ones after it, merged, once the burst is over (the user paused for `quiet_ms`,
   * the first has waited `max_wait_ms`, `max_messages` are there, or what comes next must be handled
   * alone: a sender `access` refuses, a reset, a request for a person, a keyword reply, or, where the
   * channel reports `recalls`, a recalled message). Until then the message goes back to the queue
   * without counting an attempt, a wake-up is set for the burst's end, and this answers undefined.
   * Without `debounce`: the message alone.
   */
  private async gather(claimed: InboundItem, target: ResolvedTarget, recalls: boolean, log: Logger): Promise<{ item: InboundItem; absorbed: string[] } | undefined> {
    const debounce = target.profile.debounce;
    if (!debounce || !this.deps.mergesBursts(claimed.entryKey)) return { item: claimed, absorbed: [] };
    const { store, clock } = this.deps;
    const queued = await store.queuedAfter(claimed.conversationKey, claimed.id, debounce.max_messages - 1);
    // Recalled ones are finished on their own, without a reply, when their turn comes.
    const recalled = new Set<string>();
    if (recalls) {
      for (const m of queued) if (m.message.msgId && (await wasRecalled(store, claimed.entryKey, m.message.msgId))) recalled.add(m.id);
    }
    // A message the agent may not see (a blocked user in a group, a recalled one), a reset, a request for a person, a keyword reply or one another agent answers ends the burst before it.
    const alone = (m: { id: string; message: ChatMessage }) =>
      recalled.has(m.id) ||
      accessRefusal(target.profile.access, m.message) !== undefined ||
      isResetCommand(target.profile.reset, m.message) ||
      isHandoffCommand(target.profile.handoff, m.message) ||
      keywordReply(target.profile.keyword_replies, m.message) !== undefined ||
      // Another agent of the scene answers it (its routes).
      (target.scene !== undefined && this.deps.resolveTarget(claimed.targetKind, claimed.targetId, { ...claimed, message: m.message }).agentId !== target.agentId);
    const cut = queued.findIndex(alone);
    const after = cut < 0 ? queued : queued.slice(0, cut);
    const endsAt = burstEndsAt(debounce, claimed.createdAt, after.map((m) => m.createdAt));
    const now = clock.now();
    if (now < endsAt && cut < 0 && after.length < debounce.max_messages - 1) {
      const why = `the user may send more (${after.length + 1} message(s) so far)`;
      if (await store.deferInbound(claimed.id, claimed.leaseToken, { now, availableAt: endsAt, why })) this.wakeAt(endsAt - now);
      else log.warn('lease lost before the message went back to wait for the rest of its burst');
      return undefined;
    }
    if (after.length === 0) return { item: claimed, absorbed: [] };
    log.debug({ absorbed: after.length }, 'answering a burst of messages together');
    return { item: { ...claimed, message: mergeBurst([claimed.message, ...after.map((m) => m.message)]) }, absorbed: after.map((m) => m.id) };
  }

  /** A claim after `ms` (a deferred burst's end), rather than at the next tick. */
  private wakeAt(ms: number): void {
    const cancel = this.deps.clock.timeout(ms, () => {
      this.wakeUps.delete(cancel);
      this.wake();
    });
    this.wakeUps.add(cancel);
  }

  /**
   * The message's images, or its files (voice messages and videos included), for an agent that takes
   * them. A failed download costs the agent the item, not the answer: it is logged, counted and shown
   * in the message's timeline.
   */
  private async media(noun: 'image', item: InboundItem, signal: AbortSignal, log: Logger): Promise<MediaContent[]>;
  private async media(noun: 'file', item: InboundItem, signal: AbortSignal, log: Logger): Promise<AgentFile[]>;
  private async media(noun: 'image' | 'file', item: InboundItem, signal: AbortSignal, log: Logger): Promise<MediaContent[]> {
    if (!item.message.media?.some((m) => (m.kind === 'image') === (noun === 'image'))) return [];
    const { clock, store, metrics } = this.deps;
    const fetcher = this.deps.mediaOf?.(item.entryKey);
    const deps = { clock, log, signal };
    const { items, failures } = noun === 'image'
      ? await fetchImages(item.message, fetcher, deps).then((r) => ({ items: r.images, failures: r.failures }))
      : await fetchFiles(item.message, fetcher, deps).then((r) => ({ items: r.files, failures: r.failures }));
    if (items.length > 0) metrics.mediaDownloads.inc({ channel: item.channelType, outcome: 'ok' }, items.length);
    if (failures.length > 0) {
      metrics.mediaDownloads.inc({ channel: item.channelType, outcome: 'failed' }, failures.length);
      log.warn({ code: 'COCO_ERR_MEDIA', failures }, `${noun}s not passed to the agent; it answers from the text`);
      await store.recordEvent(item.id, { at: clock.now(), stage: 'media_error', detail: `COCO_ERR_MEDIA: ${failures.join('; ')}` });
    }
    return items;
  }

  /**
   * The message as the agent gets it: with the words (and media) of the message it quotes, where its
   * channel reads them on demand (ChannelDefinition.fetchQuote), unless the agent's history has that quote
   * already (every answer in a thread names the same parent). A quote that cannot be read costs the
   * agent the context, not the answer: it is logged and shown in the message's timeline.
   */
  private async quoted(item: InboundItem, fetcher: QuoteFetcher, history: readonly HistoryTurn[], signal: AbortSignal, log: Logger): Promise<ChatMessage> {
    try {
      const quote = await fetcher(item.message, signal);
      const block = quoteBlock(quote?.text ?? '');
      if (!quote || block === '' || history.some((turn) => turn.role === 'user' && turn.content.includes(block))) return item.message;
      const media = [...(item.message.media ?? []), ...(quote.media ?? [])];
      return { ...item.message, content: withQuote(item.message.content, block), ...(media.length > 0 ? { media } : {}) };
    } catch (err) {
      if (signal.aborted) throw err;
      log.warn({ code: isCocoError(err) ? err.code : undefined, err: describeError(err) }, 'quoted message not read; the agent answers without it');
      await this.deps.store.recordEvent(item.id, { at: this.deps.clock.now(), stage: 'quote_error', detail: describeError(err) });
      return item.message;
    }
  }

  /** The channel's typing indicator; one that throws shows none (it must not cost the answer). */
  private typing(item: InboundItem, log: Logger): Typing | undefined {
    try {
      return this.deps.typingOf?.(item.entryKey, item.message);
    } catch (err) {
      log.debug({ err: describeError(err) }, 'typing indicator failed');
      return undefined;
    }
  }

  /** The channel's preview, paced to its interval; one that throws shows none. */
  private preview(item: InboundItem, log: Logger): ReturnType<typeof pacedPreview> | undefined {
    try {
      const preview = this.deps.previewOf?.(item.entryKey, item.message, item.id);
      return preview && pacedPreview(preview, this.deps.clock, log);
    } catch (err) {
      log.debug({ err: describeError(err) }, 'reply preview failed');
      return undefined;
    }
  }

  /** A notice about a message, with the start of what it says. */
  private announce(item: InboundItem, event: Notice['event'], text: Localized): void {
    const words = item.message.content.length > 100 ? `${item.message.content.slice(0, 99)}…` : item.message.content;
    this.deps.notify?.({ event, text: words ? noticeText.quoting(text, words) : text, entryKey: item.entryKey, messageId: item.id });
  }

  /** Store or unexpected failures: retry with backoff, then dead-letter after maxAttempts. */
  private async retryOrBury(item: InboundItem, err: unknown, log: Logger): Promise<void> {
    const { store, clock, metrics } = this.deps;
    const error = describeError(err);
    try {
      if (item.attempts >= this.deps.maxAttempts) {
        await store.deadLetterInbound(item.id, item.leaseToken, { now: clock.now(), error });
        metrics.failed.inc({ channel: item.channelType, reason: 'dead' });
        log.error({ err: error, attempts: item.attempts }, 'message dead-lettered');
        this.announce(item, 'dead_letter', noticeText.messageDead(senderName(item.message), item.entryKey, error, item.attempts));
      } else {
        const delay = backoffDelay({ baseMs: 1_000, capMs: 60_000 }, item.attempts);
        await store.retryInbound(item.id, item.leaseToken, { now: clock.now(), availableAt: clock.now() + delay, error });
        log.warn({ err: error, attempts: item.attempts, retryInMs: delay }, 'message processing failed; will retry');
      }
    } catch (storeErr) {
      // The lease runs out and the message is claimed again; nothing is lost.
      log.error({ err: describeError(storeErr) }, 'could not record the failure');
    }
  }

  /**
   * Tracks a claimed message's lease while its agent works: the shared renewal tick extends it,
   * and `signal` aborts on shutdown or when the lease was lost (another worker may have it now).
   */
  private keepLease(item: InboundItem, shutdown: AbortSignal, log: Logger) {
    const run = new AbortController();
    let lost = false;
    const onShutdown = () => run.abort(shutdown.reason);
    shutdown.addEventListener('abort', onShutdown, { once: true });
    this.leases.set(item.id, {
      item,
      onLost: () => {
        if (lost) return;
        lost = true;
        log.warn('lease lost while the agent was running');
        run.abort(new CocoError('COCO_ERR_STORE', 'lease lost'));
      },
    });
    return {
      signal: run.signal,
      isLost: () => lost,
      release: () => {
        this.leases.delete(item.id);
        shutdown.removeEventListener('abort', onShutdown);
      },
    };
  }

  /** One tick renews every lease in flight (one group commit), instead of a timer per message. */
  private renewAll(): void {
    const { store, clock, leaseMs } = this.deps;
    const until = clock.now() + leaseMs;
    for (const { item, onLost } of this.leases.values()) {
      store.renewInbound(item.id, item.leaseToken, until).then(
        (ok) => {
          if (!ok) onLost();
        },
        (err: unknown) => this.deps.log.warn({ messageId: item.id, err: describeError(err) }, 'lease renewal failed'),
      );
    }
  }

}

/** The message as a history turn, for agents that read history; the message log keeps every message anyway. */
function userTurn(target: ResolvedTarget, item: InboundItem, now: number, message: ChatMessage = item.message): HistoryTurn[] {
  return target.agent.usesHistory === false ? [] : [{ role: 'user', content: message.content, at: message.timestamp || now }];
}

/** The message log's note of a failover: who failed, and who answered. */
function failoverNoted(outcome: FailoverOutcome): NotedOutcome {
  if (!outcome.failed?.length) return outcome;
  const failed = outcome.failed.join(', ');
  const note = outcome.answeredBy ? `answered by the failover agent ${outcome.answeredBy} after ${failed} failed` : `every agent of the failover failed: ${failed}`;
  return withNote(outcome, note);
}

/** Where a conversation's turns with the answering agent are kept. */
function historyKeyOf(target: ResolvedTarget, item: InboundItem): HistoryKey {
  return { agentId: target.agentId, entryKey: item.entryKey, conversationId: item.message.conversationId };
}

/** The message log's note that the model refused the length and got less history. */
function historyCutDetail(outcome: Pick<AgentOutcome, 'historyCut'>): string {
  const cut = outcome.historyCut;
  return cut ? `; the model refused the length: history cut to ${cut.kept} of ${cut.of} turn(s)` : '';
}

/** An agent's outcome with what the gateway changed in its answer, for the message log. */
type NotedOutcome = AgentOutcome & { notes?: string[] };

function withNote(outcome: NotedOutcome, note: string): NotedOutcome {
  return { ...outcome, notes: [...(outcome.notes ?? []), note] };
}

/** A pairing code that is not open, or could not be one: the owner is told so, not the message retried. */
function isUnknownCode(err: unknown): err is CocoError {
  return isCocoError(err) && (err.code === 'COCO_ERR_NOT_FOUND' || err.code === 'COCO_ERR_REQUEST_INVALID');
}

/** The message log's notes of an outcome, after its other details. */
function notesDetail(outcome: Pick<NotedOutcome, 'notes'>): string {
  return outcome.notes?.length ? `; ${outcome.notes.join('; ')}` : '';
}

/**
 * The message log's line for an answer: attempts, time, and the tokens when the model reported them.
 * It starts "N attempt(s), M ms": the store gives those two as data too (store/rows.ts, finishEvent).
 */
function answeredDetail(outcome: Pick<NotedOutcome, 'attempts' | 'latencyMs' | 'reply' | 'historyCut' | 'notes'>, handedOffUntil?: number, target?: Pick<ResolvedTarget, 'agentId' | 'route'>): string {
  const { usage, images } = outcome.reply;
  const tokens = usage ? `, ${usage.promptTokens} + ${usage.completionTokens} tokens` : '';
  const pictures = images?.length ? `, ${images.length} image(s)` : '';
  const handoff = handedOffUntil === undefined ? '' : `; the agent handed the conversation to a person until ${new Date(handedOffUntil).toISOString()}`;
  const later = outcome.reply.later ? '; the agent answers later' : '';
  const routed = target?.route === undefined ? '' : `; by ${target.agentId} (the scene's routes.${target.route})`;
  return `${outcome.attempts} attempt(s), ${outcome.latencyMs} ms${routed}${tokens}${pictures}${historyCutDetail(outcome)}${notesDetail(outcome)}${handoff}${later}`;
}

