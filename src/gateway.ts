import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createAgent } from './agents/registry.js';
import type { Agent } from './agents/agent.js';
import { ChannelRegistry } from './channels/registry.js';
import { loadAdminToken, operatorTokens, type AdminTokenSource, type OperatorTokens } from './config/admin-token.js';
import { resolveReferences, SecretVault } from './config/secrets.js';
import { HEALTH_DEFAULTS, type AgentNotifySettings, type AgentProfile, type NotifySettings, type Settings } from './config/schema.js';
import { formatProblem, loadWorkspace, type AgentSpec, type WorkspaceSnapshot } from './config/workspace.js';
import { systemClock, type Clock } from './core/clock.js';
import { CocoError, describeError } from './core/errors.js';
import { Heartbeat, type ResolvedTarget } from './core/heartbeat.js';
import { readsFiles } from './core/media.js';
import { forgetEndedHandoffs } from './core/handoff.js';
import { forgetExpiredPairings } from './core/pairing.js';
import { HEALTH_CHECK_MS, HealthWatch, type WatchSettings } from './ops/health-watch.js';
import { Notifier, type NotifyEvent, type Owner } from './ops/notifier.js';
import { approvePairing, rejectPairing } from './server/pairing-approval.js';
import { routeOf, type Routable } from './core/scene-routes.js';
import { forgetOldRecalls } from './core/recall.js';
import { createLogger, type Logger } from './core/logger.js';
import { OutboxSender } from './core/outbox.js';
import { SceneKeeper } from './core/scene-keeper.js';
import { UserLimits } from './core/user-limits.js';
import { GatewayMetrics } from './ops/metrics.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';

export interface GatewayOptions {
  /** The workspace folder (agents/, scenes/, cococat.yaml, data/). */
  workspace: string;
  env?: Record<string, string | undefined>;
  clock?: Clock;
  log?: Logger;
  registry?: ChannelRegistry;
  /** How often the workspace is checked for edits on disk; 0 turns watching off. */
  watchIntervalMs?: number;
  /** Tick of the heartbeat, outbox and notifier loops (expired leases, due retries). */
  tickMs?: number;
  /** Use this store instead of the one cococat.yaml names (tests). */
  store?: Store;
  /** How often entries are looked at for the team's `entry_down` notice (HEALTH_CHECK_MS). */
  healthCheckMs?: number;
}

/** How often finished messages past the dedup retention are deleted. */
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** History is trimmed to the largest window a profile may ask for. */
const MAX_HISTORY_WINDOW = 200;
/** Web API replies stay readable (SSE resume) this long. */
const FEED_RETENTION_MS = 24 * 3_600_000;

/**
 * One gateway: workspace, store, SceneKeeper, Heartbeat and Outbox wired together.
 * `buildServer(gateway)` puts HTTP in front of it; nothing here listens on a port.
 */
export class Gateway {
  readonly root: string;
  readonly env: Record<string, string | undefined>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: ChannelRegistry;
  readonly metrics = new GatewayMetrics();
  readonly keeper: SceneKeeper;
  readonly heartbeat: Heartbeat;
  readonly outbox: OutboxSender;
  /** Hand-overs, pairing requests, dead letters and outages, to the team chat `notify` names. */
  readonly notifier: Notifier;
  /** Entries and agents that are down, and users kept waiting, for the notifier and the dashboard. */
  readonly health: HealthWatch;
  private readonly healthCheckMs: number;
  readonly adminToken: AdminTokenSource;
  private operatorCache?: { listed: Settings['operator_tokens']; tokens: OperatorTokens };
  readonly owner = `${process.pid}-${randomBytes(3).toString('hex')}`;
  private current: WorkspaceSnapshot;
  private readonly agents = new Map<string, { agent: Agent; profile: AgentProfile }>();
  /** Scenes' own `notify`, resolved once per workspace version like the agents' profiles (the vault is read from disk). */
  private readonly sceneNotifies = new Map<string, AgentNotifySettings | undefined>();
  private fingerprint = '';
  /** Timers and subscriptions to end on close. */
  private cancels: (() => void)[] = [];
  private started = false;
  private closed = false;

  private constructor(
    opts: GatewayOptions,
    snapshot: WorkspaceSnapshot,
    readonly store: Store,
    readonly vault: SecretVault,
  ) {
    this.root = opts.workspace;
    this.env = opts.env ?? {};
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? createLogger({ level: snapshot.settings.log.level });
    this.registry = opts.registry ?? new ChannelRegistry();
    this.current = snapshot;
    const limits = snapshot.settings.limits;
    this.adminToken = loadAdminToken(this.root, this.resolveSetting(snapshot.settings.admin_token, this.env.COCOCAT_ADMIN_TOKEN));
    this.healthCheckMs = opts.healthCheckMs ?? HEALTH_CHECK_MS;
    this.notifier = new Notifier({
      settings: () => this.notifySettings(),
      ownNotify: (owner) => this.ownNotify(owner),
      ownerOf: (entryKey) => this.current.entries.find((e) => e.key === entryKey)?.target,
      scenesOf: (agentId) => [...this.current.scenes.values()].filter((s) => s.scene.roster.includes(agentId)).map((s) => s.id),
      store,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      tickMs: opts.tickMs,
    });
    this.health = new HealthWatch({
      settings: () => this.watchSettings(),
      entries: () => this.keeper.status(),
      notify: (notice) => this.notifier.notify(notice),
      store,
      owner: this.owner,
      clock: this.clock,
      log: this.log,
      channelName: (type) => (this.registry.has(type) ? this.registry.get(type).displayName : type),
      checkMs: this.healthCheckMs,
      waitingOwners: () => this.waitingOwners(),
    });
    this.keeper = new SceneKeeper({
      registry: this.registry,
      store,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      vault: this.vault,
      env: this.env,
      onEnqueued: () => this.heartbeat.wake(),
      startTimeoutMs: limits.start_timeout_ms,
      owner: this.owner,
      entryLeaseMs: limits.lease_ms,
      takesFiles: (kind, id, message) => this.takesFiles(kind, id, message),
    });
    // The channel instance this process runs for an entry; none while another process runs it.
    const runningHere = (entryKey: string) => (this.keeper.isStandby(entryKey) ? undefined : this.keeper.channel(entryKey));
    this.heartbeat = new Heartbeat({
      store,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      env: this.env,
      resolveTarget: (kind, id, message) => this.resolveTarget(kind, id, message),
      capabilitiesOf: (type) => (this.registry.has(type) ? this.registry.get(type).capabilities : undefined),
      mergesBursts: (entryKey) => this.keeper.mergesBursts(entryKey),
      onReplies: () => this.outbox.wake(),
      notify: (notice) => this.notifier.notify(notice),
      agentOutcome: (agentId, outcome) => this.health.agentOutcome(agentId, outcome),
      approvePairing: (code, agentId) => approvePairing(this, code, agentId),
      rejectPairing: (code, agentId) => rejectPairing(this, code, agentId),
      deliver: (items) => this.outbox.deliverNow(items),
      canDeliver: (entryKey) => this.outbox.takesHandOver && !this.keeper.isStandby(entryKey),
      feedDeliveryOf: (entryKey) => runningHere(entryKey)?.feedDelivery(),
      typingOf: (entryKey, message) => runningHere(entryKey)?.startTyping(message),
      previewOf: (entryKey, message, messageId) => runningHere(entryKey)?.startPreview(message, messageId),
      mediaOf: (entryKey) => this.keeper.mediaFetcher(entryKey),
      quoteOf: (entryKey) => this.keeper.quoteFetcher(entryKey),
      userLimits: new UserLimits(this.clock, store.shared ? store : undefined),
      onSent: (entryKey) => this.keeper.countOut(entryKey),
      finishedWithoutReply: (entryKey, messageId) => this.keeper.channel(entryKey)?.finishedWithoutReply(messageId),
      concurrency: limits.concurrency,
      leaseMs: limits.lease_ms,
      maxAttempts: limits.max_attempts,
      outboxMaxAgeMs: limits.outbox_max_age_ms,
      owner: this.owner,
      tickMs: opts.tickMs,
    });
    this.outbox = new OutboxSender({
      store,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      channelOf: (key) => this.keeper.channel(key),
      skipEntries: () => this.keeper.standbyEntries(),
      onSent: (key) => this.keeper.countOut(key),
      notify: (notice) => this.notifier.notify(notice),
      concurrency: Math.max(4, limits.concurrency),
      leaseMs: limits.lease_ms,
      owner: this.owner,
      tickMs: opts.tickMs,
    });
    this.metrics.bind({
      storeStats: () => this.store.stats(),
      oldestWaiting: () => this.store.oldestWaiting(),
      entryStates: () => this.keeper.status().map((e) => e.state),
      now: () => this.clock.now(),
    });
  }

  /** Loads the workspace and opens the store; does not start anything yet. */
  static async open(opts: GatewayOptions): Promise<Gateway> {
    const snapshot = loadWorkspace(opts.workspace);
    // The URL may hold a password: `${ENV}` and `${secret:name}` references keep it out of the file.
    const vault = new SecretVault(opts.workspace);
    const refs = { env: opts.env ?? {}, vault, file: 'cococat.yaml' };
    const store = opts.store ?? (await openStore(opts.workspace, resolveReferences(snapshot.settings.store.url, refs, ['store', 'url'])));
    return new Gateway(opts, snapshot, store, vault);
  }

  get snapshot(): WorkspaceSnapshot {
    return this.current;
  }

  get isReady(): boolean {
    return this.started && !this.closed;
  }

  /** Starts every enabled entry (in the background), the heartbeat, the outbox and the watcher. */
  start(opts: { watchIntervalMs?: number } = {}): void {
    if (this.started) return;
    this.started = true;
    for (const p of this.current.problems) this.log.warn({ file: p.file, field: p.field }, `workspace: ${formatProblem(p)}`);
    this.fingerprint = workspaceFingerprint(this.root);
    this.keeper.apply(this.current);
    this.warmAgents();
    this.heartbeat.start();
    this.outbox.start();
    this.notifier.start();
    const watchMs = opts.watchIntervalMs ?? 1_000;
    if (watchMs > 0) this.cancels.push(this.clock.every(watchMs, () => this.reloadIfChanged()));
    this.cancels.push(this.clock.every(PRUNE_INTERVAL_MS, () => void this.prune()));
    const checkHealth = () => this.health.checkEntries().catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'health check failed'));
    this.cancels.push(this.clock.every(this.healthCheckMs, () => void checkHealth()));
    // Replies another process left for an entry that runs here go out now, not at the next tick.
    const unsubscribe = this.store.onOutboxPending?.((entryKey) => {
      if (this.keeper.channel(entryKey)) this.outbox.wake();
    });
    if (unsubscribe) this.cancels.push(unsubscribe);
  }

  /** Re-reads the workspace and applies it; the admin API calls this after every write. */
  reload(fingerprint = workspaceFingerprint(this.root)): WorkspaceSnapshot {
    this.fingerprint = fingerprint;
    this.current = loadWorkspace(this.root);
    this.agents.clear();
    this.sceneNotifies.clear();
    if (this.started && !this.closed) {
      this.keeper.apply(this.current);
      this.warmAgents();
    }
    return this.current;
  }

  /**
   * Makes the workspace's agents right after start-up (or a change) rather than at their first
   * message: an agent's SDK is loaded then (the openai one is not loaded at start, so that ready
   * comes sooner), not while the first message's lease runs.
   */
  private warmAgents(): void {
    setImmediate(() => {
      if (this.closed) return;
      for (const id of this.current.agents.keys()) {
        try {
          this.resolveTarget('agent', id);
        } catch (err) {
          // The agent's first message reports it, with the message: nothing to add here.
          this.log.debug({ agent: id, err: describeError(err) }, 'agent not made in advance');
        }
      }
    });
  }

  private reloadIfChanged(): void {
    const fingerprint = workspaceFingerprint(this.root);
    if (fingerprint === this.fingerprint) return;
    const snapshot = this.reload(fingerprint);
    this.log.info({ problems: snapshot.problems.length }, 'workspace changed on disk; applied');
    for (const p of snapshot.problems) this.log.warn({ file: p.file, field: p.field }, `workspace: ${formatProblem(p)}`);
  }

  private async prune(): Promise<void> {
    try {
      const hours = this.current.settings.limits.dedup_retention_hours;
      await this.store.prune(this.clock.now(), {
        dedupRetentionMs: hours * 3_600_000,
        feedRetentionMs: FEED_RETENTION_MS,
        historyTurns: MAX_HISTORY_WINDOW,
      });
      await forgetEndedHandoffs(this.store, this.clock.now());
      await forgetOldRecalls(this.store, this.clock.now());
      await forgetExpiredPairings(this.store, this.clock.now());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'prune failed');
    }
  }

  /** Whether the agent answering a target takes files; false for a target that does not resolve. */
  private takesFiles(kind: 'agent' | 'scene', id: string, message?: Routable): boolean {
    try {
      return readsFiles(this.resolveTarget(kind, id, message).profile);
    } catch {
      return false;
    }
  }

  /**
   * Which agent answers a message for an agent or scene target, with its profile resolved. For a
   * scene, the scene's routes read `message` (core/scene-routes.ts); without it, its lead answers.
   */
  resolveTarget(kind: 'agent' | 'scene', id: string, message?: Routable): ResolvedTarget {
    let agentId = id;
    let scene: ResolvedTarget['scene'];
    let route: number | undefined;
    if (kind === 'scene') {
      const spec = this.current.scenes.get(id);
      if (!spec || spec.scene.roster.length === 0) throw new CocoError('COCO_ERR_ROUTE_MISSING', `scene "${id}" does not exist or has no roster`);
      ({ agentId, route } = routeOf(spec.scene, message));
      scene = { id, name: spec.scene.name ?? id, context: spec.scene.context };
    }
    const cached = this.agentNamed(agentId);
    if (!cached) throw new CocoError('COCO_ERR_ROUTE_MISSING', `agent "${agentId}" does not exist`);
    // A failover agent removed since the profile was checked is skipped, not an error.
    const failover = cached.profile.failover?.flatMap((id) => {
      const other = this.agentNamed(id);
      return other ? [{ agentId: id, ...other }] : [];
    });
    return { agentId, ...cached, scene, ...(route !== undefined ? { route } : {}), ...(failover?.length ? { failover } : {}) };
  }

  /** The agent a profile of the workspace makes; built once per workspace version (reload() clears the cache; the vault file is part of its fingerprint). */
  private agentNamed(agentId: string): { agent: Agent; profile: AgentProfile } | undefined {
    let cached = this.agents.get(agentId);
    if (!cached) {
      const spec = this.current.agents.get(agentId);
      if (!spec) return undefined;
      cached = this.createAgentOrFailing(spec);
      this.agents.set(agentId, cached);
    }
    return cached;
  }

  /**
   * A profile that cannot make an agent (an unset ${ENV}, no API key) still answers: with the
   * fallback reply and a visible error, never silence.
   */
  private createAgentOrFailing(spec: AgentSpec): { agent: Agent; profile: AgentProfile } {
    try {
      const profile = resolveReferences(spec.profile, { env: this.env, vault: this.vault, file: spec.file });
      return { profile, agent: createAgent(profile, { clock: this.clock, log: this.log, env: this.env }) };
    } catch (err) {
      const error = err instanceof CocoError ? err : new CocoError('COCO_ERR_CONFIG_INVALID', describeError(err));
      const agent: Agent = {
        provider: spec.profile.provider,
        run: async () => {
          throw new CocoError(error.code, error.message, { retryable: false, field: error.field });
        },
      };
      return { profile: spec.profile, agent };
    }
  }

  /** Stops taking work, lets running agents end or releases their messages, stops channels, closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const cancel of this.cancels) cancel();
    await this.heartbeat.stop();
    await this.outbox.stop();
    await this.keeper.stopAll();
    // Last: stopping the others may still tell the team something (a message given up on).
    await this.notifier.stop();
    await this.store.close();
  }

  /** An agent's or a scene's own team chat (`notify`), its references resolved once per workspace version; none when it has none or they do not resolve. */
  private ownNotify(owner: Owner): AgentNotifySettings | undefined {
    if (owner.kind === 'agent') return this.agentNamed(owner.id)?.profile.notify;
    if (this.sceneNotifies.has(owner.id)) return this.sceneNotifies.get(owner.id);
    const spec = this.current.scenes.get(owner.id);
    let resolved: AgentNotifySettings | undefined;
    try {
      resolved = spec?.scene.notify && resolveReferences(spec.scene.notify, { env: this.env, vault: this.vault, file: spec.file });
    } catch (err) {
      this.log.warn({ scene: owner.id, err: describeError(err) }, 'notify of the scene: cannot resolve its url or secret; no notice sent there');
    }
    this.sceneNotifies.set(owner.id, resolved);
    return resolved;
  }

  /**
   * What the health watch looks for: every receiver's events, with the gateway's thresholds (or the
   * defaults); none without any notify. `waiting` only when the gateway's own asks for it: an agent's
   * or a scene's is watched for its own entries (waitingOwners).
   */
  private watchSettings(): WatchSettings | undefined {
    const gateway = this.current.settings.notify;
    const events = new Set<NotifyEvent>(gateway?.events ?? []);
    for (const { events: own } of this.ownNotifyEvents()) for (const e of own) if (e !== 'waiting') events.add(e);
    if (events.size === 0) return undefined;
    return { ...HEALTH_DEFAULTS, ...(gateway ?? {}), events: [...events] };
  }

  /** The agents and scenes whose own notify asks for `waiting`. */
  private waitingOwners(): Owner[] {
    return this.ownNotifyEvents()
      .filter((o) => o.events.includes('waiting'))
      .map(({ owner }) => owner);
  }

  /** Each agent and scene with a `notify` of its own, and the events it asks for, as written. */
  private ownNotifyEvents(): { owner: Owner; events: readonly NotifyEvent[] }[] {
    const own: { owner: Owner; events: readonly NotifyEvent[] }[] = [];
    for (const a of this.current.agents.values()) if (a.profile.notify) own.push({ owner: { kind: 'agent', id: a.id }, events: a.profile.notify.events });
    for (const s of this.current.scenes.values()) if (s.scene.notify) own.push({ owner: { kind: 'scene', id: s.id }, events: s.scene.notify.events });
    return own;
  }

  /** cococat.yaml's `notify` as it is now, its references resolved; none when they cannot be (logged once per notice). */
  private notifySettings(): { notify?: NotifySettings; publicUrl?: string } {
    const { notify, server } = this.current.settings;
    if (!notify) return { publicUrl: server.public_url };
    try {
      const url = this.resolveSetting(notify.url, undefined)!;
      const secret = this.resolveSetting(notify.secret, undefined);
      return { notify: { ...notify, url, ...(secret ? { secret } : {}) }, publicUrl: server.public_url };
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'notify: cannot resolve its url or secret; no notice sent');
      return { publicUrl: server.public_url };
    }
  }

  /** cococat.yaml's `operator_tokens` as they are now (read again after an edit); none when one cannot be resolved (logged). */
  get operators(): OperatorTokens {
    const listed = this.current.settings.operator_tokens;
    const cached = this.operatorCache;
    if (cached && cached.listed === listed) return cached.tokens;
    let tokens: { token: string; name?: string }[] = [];
    try {
      tokens = (listed ?? []).map((t) => (typeof t === 'string' ? { token: this.resolveSetting(t, undefined)! } : { ...t, token: this.resolveSetting(t.token, undefined)! }));
      const short = tokens.findIndex((t) => t.token.length < 16);
      if (short >= 0) {
        this.log.warn({ field: `operator_tokens.${short}` }, 'operator_tokens: a token shorter than 16 characters is not taken');
        tokens = tokens.filter((t) => t.token.length >= 16);
      }
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'operator_tokens: cannot resolve them; no operator can log in');
    }
    this.operatorCache = { listed, tokens: operatorTokens(tokens) };
    return this.operatorCache.tokens;
  }

  private resolveSetting(value: string | undefined, override: string | undefined): string | undefined {
    if (override) return override;
    return value ? resolveReferences(value, { env: this.env, vault: this.vault, file: 'cococat.yaml' }) : undefined;
  }
}

/** Cheap change detection: names, sizes and mtimes of every workspace file the gateway reads. */
function workspaceFingerprint(root: string): string {
  const parts: string[] = [];
  const add = (path: string) => {
    if (!existsSync(path)) return;
    const st = statSync(path);
    parts.push(`${path}:${st.size}:${st.mtimeMs}`);
  };
  add(join(root, 'cococat.yaml'));
  add(join(root, 'data', 'secrets.json'));
  for (const kind of ['agents', 'scenes']) {
    const dir = join(root, kind);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      parts.push(`${kind}/${name}`);
      for (const file of ['profile.yaml', 'scene.yaml', 'entries.json']) add(join(dir, name, file));
    }
  }
  return parts.join('|');
}
