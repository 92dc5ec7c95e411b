/**
 * Tells people when something needs them (`notify` in cococat.yaml): a user asked for a person, a
 * stranger asks to be let in, a message or a reply was given up on, an entry or an agent is down or
 * users are kept waiting (ops/health-watch.ts). The panel shows all of it, but nobody watches a
 * panel all day; a team watches its group chat. So a notice goes to a WeCom group robot, a Feishu
 * custom bot, or any URL as signed JSON, in the team's language (ops/notice-texts.ts).
 *
 * Each notice goes to the gateway's `notify` and to the team chat of the agent or scene it concerns,
 * when they ask for its event. Notices are kept in the store until sent, so neither a restart nor a
 * team chat that is down for a while loses one ("a user asked for a person" is a person waiting).
 * Each chat hears its notices oldest first, one at a time, paced under its robot's limit. A failed
 * POST is tried again after 2 s, 30 s, 1, 2, then every 5 minutes, sending that chat nothing else
 * meanwhile (a failure is the receiver's, not the notice's; other chats go on); a notice not
 * delivered within an hour of its event is given up on and logged. A process that dies while
 * posting leaves its lease to expire, and the notice is posted again: at least once, like a webhook.
 */
import { createHmac } from 'node:crypto';
import type { NotifySettings } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { parseRetryAfter } from '../core/retry-after.js';
import type { Logger } from '../core/logger.js';
import { signatureHeaders } from '../core/signature.js';
import { WorkLoop } from '../core/work-loop.js';
import type { NoticeItem, NoticeSummary, Store } from '../store/store.js';
import type { GatewayMetrics } from './metrics.js';
import { noticeText, type Localized } from './notice-texts.js';

export type NotifyEvent = NotifySettings['events'][number];

/** An agent or a scene, which may have a team chat of its own. */
export interface Owner {
  kind: 'agent' | 'scene';
  id: string;
}

/** Where notices go: the gateway's `notify`, or an agent's or a scene's own. */
export type ReceiverSettings = Pick<NotifySettings, 'url' | 'format' | 'secret' | 'mention_all' | 'language'> & { events: readonly NotifyEvent[] };

export interface Notice {
  event: NotifyEvent;
  /** One or two lines for a person, in each language (ops/notice-texts.ts); the receiver's `language` picks one. */
  text: Localized;
  entryKey?: string;
  messageId?: string;
  /** The agent it concerns, when no entry says it (agent_down): its own team chat hears it too. */
  agentId?: string;
  /** The panel page the notice links to (`agents/desk`) when it is about no message. */
  panelPath?: string;
  /** An outage or a wait is over (entry_down, agent_down, waiting): a `json` receiver closes what it opened. */
  resolved?: boolean;
  /** For this agent's or scene's own chat only (its users wait), not the gateway's. */
  receiver?: Owner;
}

/** What the store keeps of a notice (its body): all but the event and the receiver, which have columns. */
type StoredNotice = Omit<Notice, 'event' | 'receiver'>;

/** Between attempts, by attempt; the last repeats. A group robot's limit is per minute, so waits grow to minutes. */
const WAITS_MS = [2_000, 30_000, 60_000, 120_000, 300_000];
/** A notice this late says little the panel does not: given up on. */
export const NOTICE_MAX_AGE_MS = 3_600_000;
const TIMEOUT_MS = 10_000;
/** Longer than a POST may take, so a live sender never loses its lease. */
const LEASE_MS = 60_000;
/** Looks for notices other processes queued, and for retries that came due. */
const TICK_MS = 5_000;
/** Receivers served at once by a process (each one notice at a time): a slow team chat does not hold up the others. */
const RECEIVERS_AT_ONCE = 4;
/** The gateway's own receiver, in the store's `receiver` column; an agent's is `agent:<id>`, a scene's `scene:<id>`. */
const GATEWAY_RECEIVER = '';

/** The robots' published limits (WeCom: 20 messages a minute; Feishu: 5 a second, 100 a minute). */
const PACE: Record<NotifySettings['format'], { count: number; ms: number }[]> = {
  wecom: [{ count: 20, ms: 60_000 }],
  feishu: [
    { count: 5, ms: 1_000 },
    { count: 100, ms: 60_000 },
  ],
  json: [],
};

export interface NotifierDeps {
  /** Read for every notice: an edit of cococat.yaml applies to the next one. */
  settings: () => { notify?: NotifySettings; publicUrl?: string };
  /** An agent's or a scene's own `notify`, its references resolved; undefined when it has none. */
  ownNotify?: (owner: Owner) => ReceiverSettings | undefined;
  /** The agent or scene an entry belongs to. */
  ownerOf?: (entryKey: string) => Owner | undefined;
  /** The scenes whose roster has this agent: their users are answered by it, so their team chats hear it is down. */
  scenesOf?: (agentId: string) => readonly string[];
  store: Pick<Store, 'addNotice' | 'claimNotice' | 'finishNotice' | 'retryNotice' | 'retryNoticesNow'>;
  clock: Clock;
  log: Logger;
  /** Counts what became of each notice (`cococat_notices_total`): a revoked robot key shows as failures. */
  metrics?: Pick<GatewayMetrics, 'notices'>;
  tickMs?: number;
}

/** What this process knows of one receiver. */
interface ReceiverState {
  /** Sends made, for the pace (this process's own: several processes may together go over it, and then retry). */
  sent: number[];
  /** After a failure, nothing more is sent to it until then. */
  pausedUntil: number;
  /** The settings (format, URL, secret) that last refused a notice: when they change, the waiting notices go at once. */
  refusedBy?: string;
}

export class Notifier {
  private readonly loop: WorkLoop<NoticeItem>;
  /** Stores still writing a notice; stop() waits for them. */
  private readonly storing = new Set<Promise<void>>();
  private readonly receivers = new Map<string, ReceiverState>();
  /** Receivers with a notice in flight here: one at a time each, so each hears its notices in order. */
  private readonly sending = new Set<string>();
  private cancelWake?: () => void;

  constructor(private readonly deps: NotifierDeps) {
    this.loop = new WorkLoop({
      name: 'notifier',
      clock: deps.clock,
      log: deps.log,
      concurrency: RECEIVERS_AT_ONCE,
      tickMs: deps.tickMs ?? TICK_MS,
      claim: (limit) => this.claim(limit),
      process: (item, shutdown) => this.deliver(item, shutdown).finally(() => this.sending.delete(item.receiver)),
    });
  }

  /**
   * Stores a notice for each receiver that asks for its event: the gateway's `notify`, and the
   * concerned agent's own; sends it as soon as it may. Returns at once.
   */
  notify(notice: Notice): void {
    // The receiver has its own column; the body keeps what is said.
    const { event, receiver: _receiver, ...rest } = notice;
    const body = JSON.stringify(rest satisfies StoredNotice);
    // An entry that is down dead-letters reply after reply: the team needs one ping, not fifty.
    const fold = event === 'dead_letter' && notice.entryKey ? `dead_letter/${notice.entryKey}` : undefined;
    for (const receiver of this.receiversOf(notice)) {
      const stored = this.deps.store
        .addNotice({ receiver, event, body, ...(fold ? { foldKey: `${receiver}|${fold}` } : {}) }, this.deps.clock.now())
        .then(
          () => this.loop.wake(),
          (err: unknown) => this.deps.log.warn({ event, entry: notice.entryKey, err: describeError(err) }, 'notice not stored; not sent'),
        )
        .finally(() => this.storing.delete(stored));
      this.storing.add(stored);
    }
  }

  start(): void {
    this.loop.start();
  }

  /** Waits for notices being stored and the POSTs in flight; what is left waits in the store for the next start. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.storing]);
    this.cancelWake?.();
    await this.loop.stop();
  }

  /** Sends the notices waiting for a retry now (someone mended the receiver); returns how many waited. */
  async retryNow(): Promise<number> {
    for (const state of this.receivers.values()) {
      state.pausedUntil = 0;
      state.refusedBy = undefined;
    }
    const due = await this.deps.store.retryNoticesNow(this.deps.clock.now());
    this.loop.wake();
    return due;
  }

  /** A stored notice for people (the admin API): its text in its receiver's language, and what it is about. */
  describe(n: NoticeSummary) {
    // One whose body cannot be read is shown with an empty text: the list still says it failed and why.
    const notice: Partial<StoredNotice> = storedNotice(n.body) ?? {};
    const { body: _body, ...rest } = n;
    const language = this.settingsOf(n.receiver)?.language ?? 'en';
    return {
      ...rest,
      text: notice.text?.[language] ?? '',
      ...(notice.entryKey ? { entryKey: notice.entryKey } : {}),
      ...(notice.messageId ? { messageId: notice.messageId } : {}),
      ...(notice.resolved ? { resolved: true } : {}),
    };
  }

  /**
   * The receivers that ask for this notice's event: the gateway's, and its agent's or scene's own;
   * for an agent's own notice (agent_down), also the scenes it serves in; for one with a
   * `receiver`, that chat alone.
   */
  private receiversOf(notice: Notice): string[] {
    // A notice for one chat (`receiver`) skips the gateway's.
    const found = !notice.receiver && this.deps.settings().notify?.events.includes(notice.event) ? [GATEWAY_RECEIVER] : [];
    const owners: Owner[] = notice.receiver
      ? [notice.receiver]
      : notice.agentId !== undefined
        ? [{ kind: 'agent', id: notice.agentId }, ...(this.deps.scenesOf?.(notice.agentId) ?? []).map((id) => ({ kind: 'scene' as const, id }))]
        : [notice.entryKey ? this.deps.ownerOf?.(notice.entryKey) : undefined].filter((o) => o !== undefined);
    for (const owner of owners) {
      if (this.deps.ownNotify?.(owner)?.events.includes(notice.event)) found.push(`${owner.kind}:${owner.id}`);
    }
    return found;
  }

  private settingsOf(receiver: string): ReceiverSettings | undefined {
    if (receiver === GATEWAY_RECEIVER) return this.deps.settings().notify;
    const colon = receiver.indexOf(':');
    const kind = receiver.slice(0, colon);
    return kind === 'agent' || kind === 'scene' ? this.deps.ownNotify?.({ kind, id: receiver.slice(colon + 1) }) : undefined;
  }

  private stateOf(receiver: string): ReceiverState {
    let state = this.receivers.get(receiver);
    if (!state) this.receivers.set(receiver, (state = { sent: [], pausedUntil: 0 }));
    return state;
  }

  private async claim(limit: number): Promise<NoticeItem[]> {
    // A receiver that refused, and whose settings changed since (the key put right): the waiting notices go now.
    for (const [receiver, state] of this.receivers) {
      const settings = this.settingsOf(receiver);
      if (state.refusedBy === undefined || !settings || receiverOf(settings) === state.refusedBy) continue;
      this.deps.log.info({ receiver: receiver || 'notify', format: settings.format }, 'notify changed since a notice was refused: the waiting notices go now');
      await this.retryNow();
      break;
    }
    const now = this.deps.clock.now();
    // Receivers that must wait (after a failure, or to keep under their robot's limit), and those busy here.
    const skip = new Set(this.sending);
    let soonest = Infinity;
    for (const [receiver, state] of this.receivers) {
      const settings = this.settingsOf(receiver);
      const wait = Math.max(state.pausedUntil - now, settings ? paceWait(PACE[settings.format], state.sent, now) : 0);
      if (wait <= 0) continue;
      skip.add(receiver);
      soonest = Math.min(soonest, wait);
    }
    if (soonest < Infinity) this.wakeIn(soonest);
    const items: NoticeItem[] = [];
    while (items.length < limit) {
      const item = await this.deps.store.claimNotice({ now, leaseMs: LEASE_MS, skip: [...skip] });
      if (!item) break;
      items.push(item);
      skip.add(item.receiver);
      this.sending.add(item.receiver);
    }
    return items;
  }

  /** One wake-up for the end of a pause, sooner than the next tick. */
  private wakeIn(ms: number): void {
    this.cancelWake?.();
    this.cancelWake = this.deps.clock.timeout(ms, () => this.loop.wake());
  }

  private async deliver(item: NoticeItem, shutdown: AbortSignal): Promise<void> {
    const settings = this.settingsOf(item.receiver);
    const { store, clock, log, metrics } = this.deps;
    const now = clock.now();
    const log0 = { event: item.event, notice: item.id, receiver: item.receiver || 'notify', attempt: item.attempts };
    const giveUp = async (error: string) => {
      await store.finishNotice(item.id, item.leaseToken, { now: clock.now(), outcome: 'failed', error });
      metrics?.notices.inc({ event: item.event, outcome: 'failed' });
      log.warn({ ...log0, err: error }, 'notice not delivered to the notify URL; given up');
    };
    if (!settings) return giveUp(item.receiver === GATEWAY_RECEIVER ? 'notify is not set any more' : `${item.receiver.replace(':', ' ')} has no notify any more`);
    if (now - item.createdAt > NOTICE_MAX_AGE_MS) return giveUp(`not sent within ${NOTICE_MAX_AGE_MS / 60_000} minutes of its event`);
    const notice = storedNotice(item.body);
    if (!notice) return giveUp('its stored body is not JSON');
    const state = this.stateOf(item.receiver);
    const said = notice.text[settings.language];
    const text = item.more > 0 ? `${said}\n${noticeText.more(item.more, notice.entryKey ?? '')[settings.language]}` : said;
    try {
      state.sent.push(now);
      await post(settings, withLink({ ...notice, event: item.event as NotifyEvent, text }, this.deps.settings().publicUrl), now, shutdown);
      await store.finishNotice(item.id, item.leaseToken, { now: clock.now(), outcome: 'sent' });
      metrics?.notices.inc({ event: item.event, outcome: 'sent' });
      state.refusedBy = undefined;
    } catch (err) {
      const at = clock.now();
      const error = describeError(err);
      // Stopping: back to wait at once, for the next start or another process.
      if (shutdown.aborted) return void (await store.retryNotice(item.id, item.leaseToken, { availableAt: at, error }));
      const wait = err instanceof Refused && err.retryAfterMs !== undefined ? err.retryAfterMs : WAITS_MS[Math.min(item.attempts, WAITS_MS.length) - 1]!;
      if (at + wait - item.createdAt > NOTICE_MAX_AGE_MS) return giveUp(error);
      state.pausedUntil = at + wait;
      state.refusedBy = receiverOf(settings);
      // The URL holds the robot's key: never logged.
      log.info({ ...log0, err: error, retryInMs: wait }, 'notice not delivered to the notify URL; trying again');
      metrics?.notices.inc({ event: item.event, outcome: 'retried' });
      await store.retryNotice(item.id, item.leaseToken, { availableAt: at + wait, error });
    } finally {
      trimPace(state.sent, clock.now());
    }
  }
}

/** A notice's body as the store keeps it; undefined when it is not JSON. */
function storedNotice(body: string): StoredNotice | undefined {
  try {
    return JSON.parse(body) as StoredNotice;
  } catch {
    return undefined;
  }
}

/** What names a receiver: a new URL, format or secret is another try. */
function receiverOf(notify: ReceiverSettings): string {
  return sha256Hex(`${notify.format}\n${notify.url}\n${notify.secret ?? ''}`);
}

/** How long until one more send keeps within every window of `pace`: 0 when it may go now. */
function paceWait(pace: { count: number; ms: number }[], sent: number[], now: number): number {
  let wait = 0;
  for (const { count, ms } of pace) {
    const inWindow = sent.filter((t) => t > now - ms);
    if (inWindow.length >= count) wait = Math.max(wait, inWindow[inWindow.length - count]! + ms - now);
  }
  return wait;
}

/** Keeps the sends of the longest window (a minute). */
function trimPace(sent: number[], now: number): void {
  while (sent.length > 0 && sent[0]! <= now - 60_000) sent.shift();
}

/** A receiver that answered, and did not take the notice; with how long it asks us to wait when it limits us. */
class Refused extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** A notice as it goes out: in the team's language. */
type Outgoing = Omit<Notice, 'text'> & { text: string };

function withLink(notice: Outgoing, publicUrl: string | undefined): Outgoing & { link?: string } {
  const path = notice.messageId ? `messages?id=${encodeURIComponent(notice.messageId)}` : notice.panelPath;
  if (!publicUrl || !path) return notice;
  const link = `${publicUrl.replace(/\/+$/, '')}/#/${path}`;
  return { ...notice, text: `${notice.text}\n${link}`, link };
}

/** One POST in the format of the receiver; throws when it did not take the notice. */
async function post(settings: ReceiverSettings, notice: Outgoing & { link?: string }, now: number, stop: AbortSignal): Promise<void> {
  const text = `[CocoCat] ${notice.text}`;
  const everyone = settings.mention_all.includes(notice.event);
  let body: string;
  let headers: Record<string, string> = { 'content-type': 'application/json' };
  if (settings.format === 'wecom') {
    body = JSON.stringify({ msgtype: 'text', text: { content: text, ...(everyone ? { mentioned_list: ['@all'] } : {}) } });
  } else if (settings.format === 'feishu') {
    const content = { text: everyone ? `<at user_id="all">所有人</at> ${text}` : text };
    body = JSON.stringify({ ...feishuSign(settings.secret, now), msg_type: 'text', content });
  } else {
    const { event, entryKey, messageId, link, resolved } = notice;
    body = JSON.stringify({ event, text: notice.text, entryKey, messageId, link, resolved: resolved === true, at: new Date(now).toISOString() });
    headers = { ...headers, ...signatureHeaders(settings.secret, now, body) };
  }
  const res = await fetch(settings.url, { method: 'POST', headers, body, signal: AbortSignal.any([stop, AbortSignal.timeout(TIMEOUT_MS)]) });
  const answer = (await res.json().catch(() => undefined)) as { errcode?: number; errmsg?: string; code?: number; msg?: string } | undefined;
  if (res.status === 429) throw new Refused('HTTP 429', parseRetryAfter(res.headers, now) ?? 60_000);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  // Robots answer 200 with their own error codes (WeCom 93000 a wrong key, 45009 over the limit; Feishu 19021 a bad sign, 9499 over the limit).
  const code = settings.format === 'wecom' ? answer?.errcode : settings.format === 'feishu' ? answer?.code : 0;
  if (code === 0) return;
  const said = answer?.errmsg ?? answer?.msg ?? '';
  const limited = (settings.format === 'wecom' && code === 45009) || (settings.format === 'feishu' && code === 9499 && /too many/i.test(said));
  throw new Refused(`refused: ${code ?? 'no code'} ${said}`.trim(), limited ? (settings.format === 'wecom' ? 60_000 : 1_000) : undefined);
}

/** A Feishu custom bot's signature check (签名校验): HMAC-SHA256 keyed by `timestamp + "\n" + secret` over nothing, base64. */
export function feishuSign(secret: string | undefined, now: number): { timestamp?: string; sign?: string } {
  if (!secret) return {};
  const timestamp = Math.floor(now / 1000).toString();
  return { timestamp, sign: createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64') };
}
