/**
 * Tells the team when an entry or an agent is down, and when it is back (`entry_down` and
 * `agent_down` in `notify.events`). Without it, a personal WeChat session that expired overnight or
 * a revoked model key shows only as users who stop getting answers, or who get the fallback reply.
 *
 * - An entry is down while it is in error (restarts with backoff in between included), or while it
 *   runs but has lost its platform (a long connection reconnecting, an iLink session that expired).
 *   The team hears of it after `entry_down_after_minutes`, and hears that it is back once it has
 *   worked for a whole check (so a restart that fails again at once is no "back").
 * - An agent is down after `agent_down_after_failures` runs in a row that failed after their retries
 *   (a failover agent answering does not hide the first agent's failure); the next answer ends it. A
 *   message too long for the model says nothing about the agent and is not counted. Runs are counted
 *   without `notify` too: the dashboard lists failing agents (`failingAgents`).
 *
 * - Users wait: the oldest message not answered, or the oldest reply not delivered, is older than
 *   `waiting_after_minutes`, whatever the cause; told once, and again when none is. The gateway's
 *   chat hears of all entries; an agent's or a scene's own chat that asks for `waiting`, of its own.
 *
 * With several gateway processes on one store, each watches what it runs; a lease on the outage's
 * notice key (`notice/entry_down/desk.wecom`) makes one of them the teller, so one outage is one ping.
 */
import type { AgentOutcome } from '../agents/run-agent.js';
import { HEALTH_DEFAULTS, type NotifySettings } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { EntryStatus } from '../core/entry-status.js';
import { describeError, isCocoError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';
import { noticeText, type EntryNamed, type Localized } from './notice-texts.js';
import type { Notice, Owner } from './notifier.js';

/** How often entries are looked at. */
export const HEALTH_CHECK_MS = 15_000;
/** The teller renews its lease at every check (entries) or failure (agents); another process may tell after this. */
const TELLER_LEASE_MS = 10 * 60_000;
/** `agent_down_after_failures` without `notify` (the schema's default). */
const DEFAULT_AGENT_FAILURES = 3;
/** Errors can be long (a platform's whole answer): the notice quotes their start. */
const REASON_CHARS = 300;

/** What the watch reads of the notify settings. */
export type WatchSettings = Pick<NotifySettings, 'entry_down_after_minutes' | 'waiting_after_minutes' | 'agent_down_after_failures'> & {
  events: readonly NotifySettings['events'][number][];
};

export interface HealthWatchDeps {
  /**
   * Read at every check and outcome: an edit of cococat.yaml applies at once. The thresholds are the
   * gateway's `notify`'s; the events, every receiver's (agents' own `notify` too).
   */
  settings: () => WatchSettings | undefined;
  entries: () => EntryStatus[];
  notify: (notice: Notice) => void;
  store: Pick<Store, 'leaseEntry' | 'releaseEntry' | 'oldestWaiting' | 'stats' | 'entryWaits'>;
  /** The agents and scenes whose own chat asks for `waiting` (read at every check). */
  waitingOwners?: () => readonly Owner[];
  /** This process, as the store's leases know it. */
  owner: string;
  clock: Clock;
  log: Logger;
  /** A channel type's display name ("personal WeChat (iLink)"), for people. */
  channelName: (type: string) => string;
  /** How often the gateway calls checkEntries (HEALTH_CHECK_MS). */
  checkMs: number;
}

interface Outage {
  since: number;
  reason: string;
  /** The team was told: it hears when it ends. */
  told: boolean;
  /** Working again since (at a check); the outage ends when it still works a whole check later. */
  upSince?: number;
}

interface Failing {
  failures: number;
  since: number;
  reason: string;
  told: boolean;
  /** A claim of the teller's lease is under way: failures meanwhile must not tell again. */
  telling: boolean;
}

export class HealthWatch {
  private readonly outages = new Map<string, Outage>();
  private readonly failing = new Map<string, Failing>();
  /**
   * Since when the oldest message (inbound) or reply (outbound) has waited too long, while it does:
   * of all entries (`inbound`, `outbound`), or of one agent's or scene's (`agent:sales/inbound`).
   */
  private readonly waits = new Map<string, { since: number; told: boolean }>();
  private checking = false;

  constructor(private readonly deps: HealthWatchDeps) {}

  /** Looks at every entry once; the gateway calls it every `checkMs`. A check still under way (a slow store) is not doubled. */
  async checkEntries(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.check();
      await this.checkWaiting();
    } finally {
      this.checking = false;
    }
  }

  private async check(): Promise<void> {
    const settings = this.deps.settings();
    if (!settings?.events.includes('entry_down')) return this.outages.clear();
    const now = this.deps.clock.now();
    const statuses = new Map(this.deps.entries().map((s) => [s.key, s]));
    for (const [key, outage] of this.outages) {
      if (!statuses.get(key)?.enabled) await this.endOutage(key, outage, undefined); // removed or disabled: whoever did it knows
    }
    for (const status of statuses.values()) {
      const down = whyDown(status, now);
      const outage = this.outages.get(status.key);
      if (down) {
        const current = outage ?? { since: down.since, reason: down.reason, told: false };
        current.reason = down.reason;
        delete current.upSince;
        this.outages.set(status.key, current);
        const due = now - current.since >= settings.entry_down_after_minutes * 60_000;
        await this.goOnTelling('entry_down', status.key, now, current, due, () =>
          this.entryNotice(status, noticeText.entryDown(this.named(status), current.reason, now - current.since)),
        );
      } else if (outage && works(status)) {
        outage.upSince ??= now;
        if (!outage.told || now - outage.upSince >= this.deps.checkMs) await this.endOutage(status.key, outage, status, now);
      }
      // Starting again after a failure (or stopped for a moment by a reload): the outage goes on.
    }
  }

  /**
   * The oldest message waiting for its answer, and the oldest reply waiting for its delivery: past
   * `waiting_after_minutes`, users are kept waiting whatever the cause (slow or failing agents, an
   * overload, a platform refusing replies). One notice while it lasts, and one when it is over.
   */
  private async checkWaiting(): Promise<void> {
    const settings = this.deps.settings();
    const owners = this.deps.waitingOwners?.() ?? [];
    const now = this.deps.clock.now();
    const limit = (settings?.waiting_after_minutes ?? HEALTH_DEFAULTS.waiting_after_minutes) * 60_000;
    // Waits no one asks about any more (a notify edited) end without a word: whoever edited it knows.
    const asked = new Set([...(settings?.events.includes('waiting') ? [''] : []), ...owners.map((o) => `${o.kind}:${o.id}`)]);
    for (const [subject, wait] of this.waits) {
      if (asked.has(subject.includes('/') ? subject.slice(0, subject.indexOf('/')) : '')) continue;
      this.waits.delete(subject);
      if (wait.told) await this.release('waiting', subject);
    }
    if (asked.has('')) {
      const oldest = await this.deps.store.oldestWaiting();
      // Read once, and only when a notice is told.
      let read: Promise<{ inbound: number; outbound: number }> | undefined;
      const counts = () =>
        (read ??= this.deps.store.stats().then((s) => ({ inbound: s.inboundQueued + s.inboundLeased, outbound: s.outboundPending + s.outboundLeased })));
      await this.watchWait('inbound', 'inbound', oldest.inboundAt, now, limit, async () => (await counts()).inbound, { panelPath: 'dashboard' });
      await this.watchWait('outbound', 'outbound', oldest.outboundAt, now, limit, async () => (await counts()).outbound, { panelPath: 'dashboard' });
    }
    if (owners.length === 0) return;
    const waits = await this.deps.store.entryWaits();
    const targets = new Map(this.deps.entries().map((s) => [s.key, s.target]));
    for (const owner of owners) {
      const mine = [...waits].filter(([key]) => targets.get(key)?.kind === owner.kind && targets.get(key)?.id === owner.id).map(([, w]) => w);
      const page = { panelPath: targetPage(owner), receiver: owner };
      const subject = `${owner.kind}:${owner.id}`;
      const count = (what: 'inbound' | 'outbound') => mine.reduce((n, w) => n + w[what], 0);
      await this.watchWait(`${subject}/inbound`, 'inbound', oldestOf(mine.map((w) => w.inboundSince)), now, limit, async () => count('inbound'), page);
      await this.watchWait(`${subject}/outbound`, 'outbound', oldestOf(mine.map((w) => w.outboundSince)), now, limit, async () => count('outbound'), page);
    }
  }

  /** One kind of wait of one subject: told when its oldest (`at`) is past the limit, and when it is over. */
  private async watchWait(
    subject: string,
    what: 'inbound' | 'outbound',
    at: number | null,
    now: number,
    limit: number,
    count: () => Promise<number>,
    to: Pick<Notice, 'panelPath' | 'receiver'>,
  ): Promise<void> {
    const wait = this.waits.get(subject);
    if (at !== null && now - at >= limit) {
      const current = wait ?? { since: at, told: false };
      this.waits.set(subject, current);
      await this.goOnTelling('waiting', subject, now, current, true, async () => {
        const n = await count();
        const text = what === 'inbound' ? noticeText.messagesWait(now - at, n) : noticeText.repliesWait(now - at, n);
        return { event: 'waiting', text, ...to };
      });
    } else if (wait) {
      this.waits.delete(subject);
      await this.stopTelling('waiting', subject, wait, () => ({ event: 'waiting', text: noticeText.waitingOver(what, now - wait.since), ...to }));
    }
  }

  /** One agent run's outcome (core/failover.ts reports each agent's own). */
  agentOutcome(agentId: string, outcome: AgentOutcome): void {
    // Counted whether or not the team is told: the dashboard shows failing agents either way.
    const settings = this.deps.settings();
    const telling = settings?.events.includes('agent_down') === true;
    const now = this.deps.clock.now();
    const current = this.failing.get(agentId);
    if (outcome.ok) {
      if (!current) return;
      this.failing.delete(agentId);
      const text = noticeText.agentUp(agentId, current.failures, now - current.since);
      void this.stopTelling('agent_down', agentId, current, () => ({ event: 'agent_down', text, agentId, panelPath: targetPage({ kind: 'agent', id: agentId }) }));
      return;
    }
    const cause = outcome.error.cause ?? outcome.error;
    if (isCocoError(cause) && cause.code === 'COCO_ERR_AGENT_CONTEXT') return; // the message was too long, not the agent down
    const failing = current ?? { failures: 0, since: now, reason: '', told: false, telling: false };
    failing.failures++;
    failing.reason = clip(describeError(cause));
    this.failing.set(agentId, failing);
    if (!telling || failing.telling) return;
    if (!failing.told && failing.failures < settings.agent_down_after_failures) return;
    failing.telling = true;
    void this.claim('agent_down', agentId, now).then((teller) => {
      failing.telling = false;
      if (!teller || failing.told || this.failing.get(agentId) !== failing) return;
      failing.told = true;
      const text = noticeText.agentDown(agentId, failing.failures, now - failing.since, failing.reason);
      this.deps.notify({ event: 'agent_down', text, agentId, panelPath: targetPage({ kind: 'agent', id: agentId }) });
    });
  }

  /** Agents whose last runs failed, at least `agent_down_after_failures` (3) in a row, longest failing first. */
  failingAgents(): { agentId: string; failures: number; since: number; reason: string }[] {
    const threshold = this.deps.settings()?.agent_down_after_failures ?? DEFAULT_AGENT_FAILURES;
    return [...this.failing]
      .filter(([, f]) => f.failures >= threshold)
      .map(([agentId, { failures, since, reason }]) => ({ agentId, failures, since, reason }))
      .sort((a, b) => a.since - b.since);
  }

  /** An entry's outage ends; with no status (the entry was removed or disabled), without a word. */
  private async endOutage(key: string, outage: Outage, status: EntryStatus | undefined, now = this.deps.clock.now()): Promise<void> {
    this.outages.delete(key);
    await this.stopTelling('entry_down', key, outage, status && (() => this.entryNotice(status, noticeText.entryUp(this.named(status), now - outage.since))));
  }

  /**
   * An outage that lasts: the process that told of it renews its lease on the notice key, so the
   * others stay quiet; while no one has told yet, each tries to take the lease once it is `due`,
   * and the one that does tells.
   */
  private async goOnTelling(event: string, subject: string, now: number, state: { told: boolean }, due: boolean, notice: () => Notice | Promise<Notice>): Promise<void> {
    if (state.told) await this.claim(event, subject, now);
    else if (due && (await this.claim(event, subject, now))) {
      state.told = true;
      this.deps.notify(await notice());
    }
  }

  /** An outage is over: the team hears so (`resolved`) if it heard of it, and the lease goes. */
  private async stopTelling(event: string, subject: string, state: { told: boolean }, notice: (() => Notice) | undefined): Promise<void> {
    if (!state.told) return;
    if (notice) this.deps.notify({ ...notice(), resolved: true });
    await this.release(event, subject);
  }

  private entryNotice(status: EntryStatus, text: Localized): Notice {
    const page = targetPage(status.target);
    return { event: 'entry_down', text, entryKey: status.key, panelPath: page };
  }

  private named(status: EntryStatus): EntryNamed {
    return { key: status.key, channelName: this.deps.channelName(status.channel), target: status.target };
  }

  /**
   * Whether this process tells of the outage: it holds (or now takes, or renews) the lease on its
   * notice key. A store that cannot say is no reason to keep quiet: the team may hear twice.
   */
  private async claim(event: string, subject: string, now: number): Promise<boolean> {
    try {
      return await this.deps.store.leaseEntry(`notice/${event}/${subject}`, this.deps.owner, now, TELLER_LEASE_MS);
    } catch (err) {
      this.deps.log.warn({ event, subject, err: describeError(err) }, 'cannot tell whether another process told the team; telling');
      return true;
    }
  }

  private async release(event: string, subject: string): Promise<void> {
    await this.deps.store.releaseEntry(`notice/${event}/${subject}`, this.deps.owner).catch(() => undefined);
  }
}

/** The panel page of an agent or a scene. */
const targetPage = (target: Owner) => `${target.kind === 'scene' ? 'scenes' : 'agents'}/${encodeURIComponent(target.id)}`;

/** The earliest of some times, null when none is given. */
const oldestOf = (list: (number | null)[]) => list.reduce<number | null>((a, b) => (b !== null && (a === null || b < a) ? b : a), null);

/** Why an enabled entry is down now, and since when; undefined when it is not. */
export function whyDown(status: EntryStatus, now: number): { since: number; reason: string } | undefined {
  if (!status.enabled) return undefined;
  if (status.state === 'error') return { since: status.since, reason: clip(status.lastError?.message ?? 'failed to start') };
  const link = status.transport;
  if (status.state === 'running' && link && (link.state === 'reconnecting' || link.state === 'connecting')) {
    return { since: link.lastDisconnectedAt ?? now, reason: clip(link.lastError?.message ?? 'no connection to the platform') };
  }
  return undefined;
}

/** Working: running with its platform reachable, or run by another process. */
function works(status: EntryStatus): boolean {
  return status.state === 'standby' || (status.state === 'running' && whyDown(status, 0) === undefined);
}

function clip(text: string): string {
  return text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS - 1)}…` : text;
}
