import type { Routable } from './scene-routes.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { ChannelDefinition } from '../channels/define.js';
import { firstIssue } from '../config/schema.js';
import { resolveReferences, type SecretVault } from '../config/secrets.js';
import { keepMediaOnArrival } from './keep-media.js';
import { isInlineMedia, readInlineMedia, type MediaFetcher } from './media.js';
import type { QuoteFetcher } from './quote.js';
import type { EntrySpec, WorkspaceSnapshot } from '../config/workspace.js';
import { ActivityLog } from '../ops/activity.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { Enqueued, Store } from '../store/store.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Channel, ChannelFeed, ChannelSignals } from './channel.js';
import { storeChannelState } from './channel-state.js';
import type { Clock } from './clock.js';
import type { EntryStatus } from './entry-status.js';
import { sha256Hex } from './hash.js';
import { CocoError, describeError, isCocoError } from './errors.js';
import { lazyChild, type Logger } from './logger.js';
import { localRateLimiter, SharedRateLimiter, type RateLimit } from './rate-limiter.js';
import type { Accepted, ChatMessage, MediaRef } from './message.js';

export interface SceneKeeperDeps {
  registry: ChannelRegistry;
  store: Store;
  clock: Clock;
  log: Logger;
  metrics: GatewayMetrics;
  vault: SecretVault;
  env: Record<string, string | undefined>;
  /** Called after every durable enqueue, to wake the Heartbeat at once. */
  onEnqueued: () => void;
  startTimeoutMs: number;
  /** This process, as the holder of entry leases (exclusive channels on a shared store). */
  owner: string;
  /** How long an entry lease lasts without renewal: the longest another process waits to take over. */
  entryLeaseMs: number;
  /** Restart delays after a channel fails; defaults to 1 s doubling to 5 min, jittered. */
  restartBackoff?: BackoffPolicy;
  /** Whether the agent answering a target takes files (`files: true`): then short-lived files are kept on arrival too. */
  takesFiles?: (kind: 'agent' | 'scene', id: string, message: Routable) => boolean;
}

interface Runtime {
  spec: EntrySpec;
  def?: ChannelDefinition;
  instance?: Channel;
  /** Fingerprint of what the entry runs with; a change means restart. */
  fingerprint: string;
  status: EntryStatus;
  /** Bumped on every stop/start so late callbacks of an old instance are ignored. */
  generation: number;
  restartTimer?: AbortController;
  /** Set while this process holds the entry's lease: stops its renewals. */
  cancelLease?: () => void;
  /** Serialises stop → start on one entry. */
  chain: Promise<void>;
}

const DEFAULT_RESTART: BackoffPolicy = { baseMs: 1_000, capMs: 300_000, jitter: 0.5 };

/**
 * Runs one channel instance per enabled entry and routes their messages into the mailbox.
 * Starting never blocks on any one entry: each start runs on its own, with a timeout, and a
 * failure shows as `error` on that entry alone while the others keep serving.
 */
export class SceneKeeper {
  private readonly runtimes = new Map<string, Runtime>();
  private stopped = false;
  /** Media being kept on arrival (keepMediaOnArrival); stopAll ends and awaits them. */
  private readonly keeping = new Set<Promise<unknown>>();
  /** `mergesBursts` for entries whose channel decides by config, per spec. */
  private readonly mergesBySpec = new WeakMap<EntrySpec, boolean>();
  private readonly stopping = new AbortController();
  /** Per-minute messages in and out of each entry over the last hour (the panel's dashboard). */
  readonly activity = new ActivityLog();

  constructor(private readonly deps: SceneKeeperDeps) {}

  /** Brings the running entries in line with a workspace snapshot. Returns at once; starts go on in the background. */
  apply(snapshot: WorkspaceSnapshot): void {
    if (this.stopped) return;
    const wanted = new Map(snapshot.entries.map((e) => [e.key, e]));
    for (const [key, runtime] of this.runtimes) {
      if (!wanted.has(key)) {
        this.runtimes.delete(key);
        this.activity.forget(key);
        runtime.generation++;
        runtime.restartTimer?.abort();
        runtime.chain = runtime.chain.then(() => this.stopInstance(runtime));
      }
    }
    for (const spec of snapshot.entries) {
      const fingerprint = fingerprintOf(spec, this.deps);
      const existing = this.runtimes.get(spec.key);
      if (existing && existing.fingerprint === fingerprint) {
        existing.spec = spec;
        continue;
      }
      const runtime = existing ?? this.newRuntime(spec);
      runtime.spec = spec;
      runtime.fingerprint = fingerprint;
      runtime.status.enabled = spec.enabled;
      runtime.status.channel = spec.channel;
      this.runtimes.set(spec.key, runtime);
      this.restart(runtime, { resetRestarts: true });
    }
  }

  status(): EntryStatus[] {
    return [...this.runtimes.values()].map((r) => statusWithTransport(r)).sort((a, b) => a.key.localeCompare(b.key));
  }

  statusOf(key: string): EntryStatus | undefined {
    const r = this.runtimes.get(key);
    return r ? statusWithTransport(r) : undefined;
  }

  /**
   * Stops and starts one entry now (the panel's "reconnect"), skipping any pending backoff.
   * False when no such entry exists.
   */
  reconnect(key: string): boolean {
    const runtime = this.runtimes.get(key);
    if (!runtime || this.stopped) return false;
    this.restart(runtime, { resetRestarts: true });
    return true;
  }

  /** Entries another gateway process runs: their replies are left to it. */
  standbyEntries(): string[] {
    return [...this.runtimes.values()].filter((r) => r.status.state === 'standby').map((r) => r.spec.key);
  }

  isStandby(key: string): boolean {
    return this.runtimes.get(key)?.status.state === 'standby';
  }

  /** The running instance of an entry, if any. */
  channel(key: string): Channel | undefined {
    const r = this.runtimes.get(key);
    return r?.status.state === 'running' ? r.instance : undefined;
  }

  /** Looks up an entry for an HTTP route of its channel type: 404 unknown, 503 not running. */
  lookup(key: string, channelType: string): Channel {
    const r = this.runtimes.get(key);
    if (!r || r.spec.channel !== channelType) {
      throw new CocoError('COCO_ERR_NOT_FOUND', `no ${channelType} entry "${key}"`, { statusCode: 404 });
    }
    if (r.status.state !== 'running' || !r.instance) {
      const why = r.status.lastError ? `: ${r.status.lastError.message}` : '';
      throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', `entry "${key}" is ${r.status.enabled ? r.status.state : 'disabled'}${why}`, {
        statusCode: 503,
        retryable: true,
      });
    }
    return r.instance;
  }

  /**
   * Whether one reply may answer several messages of this entry (a profile's `debounce`): its
   * channel's `capabilities.mergesBursts`, or what the channel says for the entry's config. Asked
   * per message: the answer is kept per entry spec (a workspace edit makes a new one).
   */
  mergesBursts(key: string): boolean {
    const { spec, def } = this.definitionOf(key);
    if (!spec || !def) return false;
    if (def.capabilities.mergesBursts === true) return true;
    if (!def.mergesBurstsWith) return false;
    let merges = this.mergesBySpec.get(spec);
    if (merges === undefined) {
      try {
        merges = def.mergesBurstsWith(this.resolveConfig(def, spec)) === true;
      } catch {
        return false; // a config in error: the entry shows why; its messages are answered one by one
      }
      this.mergesBySpec.set(spec, merges);
    }
    return merges;
  }

  /**
   * Downloads media of an entry's messages with the entry's current config, in this process whether
   * or not it runs the entry (an agent here may answer a message another process received).
   * Undefined when the entry is gone or its channel type cannot download media.
   */
  mediaFetcher(key: string): MediaFetcher | undefined {
    const entry = this.entryHook(key, 'fetchMedia');
    if (!entry) return undefined;
    const { hook: fetchMedia, resolve, clock, log } = entry;
    // Resolved on the first download, once for all of a message's images; a bad config fails that download, not the caller.
    let config: unknown;
    return async (media, message, { signal, maxBytes }) => {
      // Kept with the message (inline Web API images, images kept on arrival): nothing to download.
      if (isInlineMedia(media.ref)) return readInlineMedia(media, maxBytes);
      config ??= resolve();
      return fetchMedia(media, { config, message, clock, log, signal, maxBytes });
    };
  }

  /**
   * Reads what an entry's messages quote (see ChannelDefinition.fetchQuote) with the entry's current
   * config, in this process whether or not it runs the entry. Undefined when the entry is gone or its
   * channel type receives quotes with the message, or none.
   */
  quoteFetcher(key: string): QuoteFetcher | undefined {
    const entry = this.entryHook(key, 'fetchQuote');
    if (!entry) return undefined;
    const { hook: fetchQuote, resolve, clock, log } = entry;
    return async (message, signal) =>
      // The config is resolved when read: most messages quote nothing, and are asked about anyway.
      fetchQuote(message, {
        get config() {
          return resolve();
        },
        clock,
        log,
        signal,
      });
  }

  /**
   * An entry's channel-type hook that works from the config alone (any process may run the agent),
   * with what it is given: the config resolved on demand, the clock, a log naming the entry (made
   * when first written to: the quote hook is asked for every message).
   */
  private entryHook<K extends 'fetchMedia' | 'fetchQuote'>(key: string, name: K) {
    const { spec, def } = this.definitionOf(key);
    const hook = def?.[name];
    if (!spec || !def || !hook) return undefined;
    return { hook: hook as NonNullable<ChannelDefinition[K]>, resolve: () => this.resolveConfig(def, spec), clock: this.deps.clock, log: lazyChild(this.deps.log, { entry: key }) };
  }

  /** An entry's spec and its channel type's definition, where both are known. */
  private definitionOf(key: string): { spec?: EntrySpec; def?: ChannelDefinition } {
    const spec = this.runtimes.get(key)?.spec;
    return { spec, def: spec && this.deps.registry.has(spec.channel) ? this.deps.registry.get(spec.channel) : undefined };
  }

  /** Counts a delivered reply on the entry's status. */
  countOut(key: string): void {
    const r = this.runtimes.get(key);
    if (!r) return;
    r.status.messagesOut++;
    this.activity.record(key, 'out', this.deps.clock.now());
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await Promise.all(this.keeping);
    const all = [...this.runtimes.values()];
    for (const r of all) {
      r.generation++;
      r.restartTimer?.abort();
    }
    await Promise.all(all.map((r) => (r.chain = r.chain.then(() => this.stopInstance(r)))));
  }

  private newRuntime(spec: EntrySpec): Runtime {
    return {
      spec,
      fingerprint: '',
      generation: 0,
      chain: Promise.resolve(),
      status: {
        key: spec.key,
        id: spec.id,
        channel: spec.channel,
        target: spec.target,
        enabled: spec.enabled,
        state: 'stopped',
        since: this.deps.clock.now(),
        restarts: 0,
        messagesIn: 0,
        messagesOut: 0,
      },
    };
  }

  private restart(runtime: Runtime, opts: { resetRestarts?: boolean } = {}): void {
    const generation = ++runtime.generation;
    runtime.restartTimer?.abort();
    runtime.restartTimer = undefined;
    if (opts.resetRestarts) runtime.status.restarts = 0;
    runtime.chain = runtime.chain
      .then(() => this.stopInstance(runtime))
      .then(() => {
        if (generation !== runtime.generation || this.stopped) return;
        if (!runtime.spec.enabled) {
          this.setState(runtime, 'stopped');
          return;
        }
        // Not awaited: a slow channel must not hold up the chain of later config changes.
        void this.startInstance(runtime, generation);
      });
  }

  private async startInstance(runtime: Runtime, generation: number): Promise<void> {
    const { spec } = runtime;
    const log = this.deps.log.child({ entry: spec.key, channel: spec.channel });
    this.setState(runtime, 'starting');
    let config: unknown;
    let def: ChannelDefinition;
    try {
      def = this.deps.registry.get(spec.channel);
      config = this.resolveConfig(def, spec);
    } catch (err) {
      // A config problem does not heal by retrying: wait for the entry to be edited.
      this.fail(runtime, err, log, { retry: false });
      return;
    }
    if (def.exclusive && this.deps.store.shared && !(await this.holdLease(runtime, generation, log))) return;
    const ctx = {
      entryKey: spec.key,
      entryId: spec.id,
      log,
      clock: this.deps.clock,
      feed: this.feedFor(spec.key),
      state: storeChannelState(this.deps.store, spec.key, this.deps.clock),
      signals: this.signalsFor(spec.key),
      sharedStore: this.deps.store.shared,
      rateLimiter: (name: string, limit: RateLimit) =>
        this.deps.store.shared
          ? new SharedRateLimiter(this.deps.store, `${spec.key}:${name}`, limit, this.deps.clock)
          : localRateLimiter(limit, this.deps.clock),
      reportError: (error: unknown) => {
        if (generation !== runtime.generation) return;
        this.fail(runtime, error, log, { retry: true });
      },
    };
    let instance: Channel;
    try {
      instance = def.create(ctx);
      instance.sceneId = spec.target.id;
      instance.onMessage = (message) => this.accept(runtime, generation, message);
      runtime.def = def;
      runtime.instance = instance;
      await withTimeout(instance.start(spec.target.id, config), this.deps.startTimeoutMs, this.deps.clock, spec.key);
    } catch (err) {
      if (generation !== runtime.generation) return;
      // Waiting for a login: retrying changes nothing until the login writes the credentials (a config change).
      this.fail(runtime, err, log, { retry: !isCocoError(err, 'COCO_ERR_LOGIN_REQUIRED') });
      return;
    }
    if (generation !== runtime.generation) return;
    this.setState(runtime, 'running');
    log.info('entry running');
  }

  private fail(runtime: Runtime, err: unknown, log: Logger, opts: { retry: boolean }): void {
    const code = isCocoError(err) ? err.code : 'COCO_ERR_CHANNEL_START';
    const message = describeError(err);
    const now = this.deps.clock.now();
    runtime.status.lastError = { code, message, at: now };
    this.setState(runtime, 'error');
    runtime.status.nextRestartAt = undefined;
    log.error({ code, err: message }, 'entry failed');
    const generation = ++runtime.generation;
    const instance = runtime.instance;
    runtime.instance = undefined;
    // Another process may run the entry while this one waits to retry.
    runtime.chain = runtime.chain.then(() => instance?.stop().catch(() => undefined)).then(() => this.releaseLease(runtime));
    if (!opts.retry || this.stopped) return;
    const delay = backoffDelay(this.deps.restartBackoff ?? DEFAULT_RESTART, runtime.status.restarts + 1);
    runtime.status.nextRestartAt = now + delay;
    const timer = new AbortController();
    runtime.restartTimer = timer;
    this.deps.clock.sleep(delay, timer.signal).then(
      () => {
        if (generation !== runtime.generation || this.stopped) return;
        runtime.status.restarts++;
        runtime.status.nextRestartAt = undefined;
        log.info({ attempt: runtime.status.restarts }, 'restarting entry');
        this.restart(runtime);
      },
      () => undefined,
    );
  }

  /**
   * Waits in `standby` until this process holds the entry's lease, then keeps renewing it; a renewal
   * that finds it taken (this process was cut off from the store too long) restarts the entry, which
   * stands by again. False when the entry was stopped or restarted meanwhile.
   */
  private async holdLease(runtime: Runtime, generation: number, log: Logger): Promise<boolean> {
    const { store, clock, owner, entryLeaseMs } = this.deps;
    const key = runtime.spec.key;
    const current = () => generation === runtime.generation && !this.stopped;
    const take = () =>
      store.leaseEntry(key, owner, clock.now(), entryLeaseMs).catch((err: unknown) => {
        log.warn({ err: describeError(err) }, 'entry lease: store unreachable');
        return undefined;
      });
    for (;;) {
      const held = await take();
      if (!current()) {
        if (held) await store.releaseEntry(key, owner).catch(() => undefined);
        return false;
      }
      if (held) break;
      if (runtime.status.state !== 'standby') log.info('another gateway process runs this entry; standing by');
      this.setState(runtime, 'standby');
      const timer = new AbortController();
      runtime.restartTimer = timer;
      try {
        await clock.sleep(Math.floor(entryLeaseMs / 3), timer.signal);
      } catch {
        return false;
      }
      if (!current()) return false;
    }
    this.setState(runtime, 'starting');
    runtime.cancelLease = clock.every(Math.floor(entryLeaseMs / 3), () => {
      void take().then((held) => {
        if (held !== false || generation !== runtime.generation) return;
        log.warn('entry lease taken by another gateway process; standing by');
        this.restart(runtime);
      });
    });
    return true;
  }

  /** Stops renewing the entry's lease and hands it over at once, instead of when it would run out. */
  private async releaseLease(runtime: Runtime): Promise<void> {
    if (!runtime.cancelLease) return;
    runtime.cancelLease();
    runtime.cancelLease = undefined;
    await this.deps.store.releaseEntry(runtime.spec.key, this.deps.owner).catch(() => undefined);
  }

  private async stopInstance(runtime: Runtime): Promise<void> {
    await this.releaseLease(runtime);
    const instance = runtime.instance;
    runtime.instance = undefined;
    if (!instance) {
      if (runtime.status.state === 'standby') this.setState(runtime, 'stopped');
      return;
    }
    try {
      await withTimeout(instance.stop(), 10_000, this.deps.clock, runtime.spec.key);
    } catch (err) {
      this.deps.log.warn({ entry: runtime.spec.key, err: describeError(err) }, 'channel did not stop cleanly');
    }
    if (runtime.status.state !== 'error') this.setState(runtime, 'stopped');
  }

  private resolveConfig(def: ChannelDefinition, spec: EntrySpec): unknown {
    const resolved = resolveReferences(spec.config, { env: this.deps.env, vault: this.deps.vault, file: spec.file });
    const result = def.configSchema.safeParse(resolved);
    if (result.success) return result.data;
    const { field, message } = firstIssue(result.error, ['entries', spec.index, 'config']);
    throw new CocoError('COCO_ERR_CONFIG_INVALID', `${spec.file}: ${field}: ${message}`, { file: spec.file, field });
  }

  private async accept(runtime: Runtime, generation: number, message: ChatMessage): Promise<Accepted> {
    const { spec } = runtime;
    if (generation !== runtime.generation) {
      throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', `entry "${spec.key}" was restarted; redeliver`, { retryable: true, statusCode: 503 });
    }
    let result: Enqueued;
    try {
      result = await this.deps.store.enqueue(
        {
          entryKey: spec.key,
          channelType: spec.channel,
          targetKind: spec.target.kind,
          targetId: spec.target.id,
          dedupKey: message.msgId,
          conversationKey: `${spec.key}/${message.conversationId}`,
          message: { ...message, channelType: spec.channel, sceneId: spec.target.id },
        },
        this.deps.clock.now(),
      );
    } catch (err) {
      // Nothing was stored: the channel must not acknowledge, and the sender is told to try again.
      this.deps.log.error({ entry: spec.key, msgId: message.msgId, err: describeError(err) }, 'message could not be stored');
      throw new CocoError('COCO_ERR_STORE', 'the message could not be stored; send it again', { statusCode: 503, retryable: true, retryAfterMs: 1_000, cause: err });
    }
    if (result.duplicate) {
      this.deps.metrics.deduplicated.inc({ channel: spec.channel });
      this.deps.log.debug({ entry: spec.key, msgId: message.msgId, messageId: result.id }, 'duplicate dropped');
    } else {
      const now = this.deps.clock.now();
      runtime.status.messagesIn++;
      runtime.status.lastMessageAt = now;
      this.activity.record(spec.key, 'in', now);
      this.deps.metrics.received.inc({ channel: spec.channel });
      this.deps.log.debug({ entry: spec.key, msgId: message.msgId, messageId: result.id, conversation: message.conversationId }, 'message accepted');
      this.deps.onEnqueued();
      if (runtime.def?.mediaLifetimeMs !== undefined && message.media?.length) {
        const files = message.media.some((m) => m.kind !== 'image') && this.deps.takesFiles?.(spec.target.kind, spec.target.id, { entryKey: spec.key, channelType: spec.channel, message }) === true;
        if (files || message.media.some((m) => m.kind === 'image')) this.keepMedia(spec.key, result.id, message, files);
      }
    }
    return { messageId: result.id, duplicate: result.duplicate, acceptedAt: result.acceptedAt };
  }

  /** Keeps a just-stored message's images (and files) before the platform stops serving them, in the background. */
  private keepMedia(key: string, messageId: string, message: ChatMessage, files: boolean): void {
    const fetcher = this.mediaFetcher(key);
    if (!fetcher) return;
    const { store, clock } = this.deps;
    const log = this.deps.log.child({ entry: key });
    const keep = (id: string, media: MediaRef[]) => store.keepMedia(id, media);
    const task = keepMediaOnArrival(messageId, message, fetcher, { keep, clock, log, signal: this.stopping.signal }, { files })
      .then((n) => n > 0 && log.debug({ messageId, items: n }, 'media kept with the message'))
      .catch((err: unknown) => log.warn({ messageId, err: describeError(err) }, 'media not kept with the message'))
      .finally(() => this.keeping.delete(task));
    this.keeping.add(task);
  }

  private signalsFor(key: string): ChannelSignals {
    const { store } = this.deps;
    return {
      send: (topic, body) => store.signal?.(key, topic, body) ?? false,
      listen: (listener) =>
        store.onSignal?.((s) => {
          if (s.entryKey === key) listener(s.topic, s.body);
        }) ?? (() => {}),
    };
  }

  private feedFor(key: string): ChannelFeed {
    const { store, clock } = this.deps;
    return {
      append: (item) => store.appendFeed({ ...item, entryKey: key }, clock.now()),
      read: (conversationId, afterSeq, limit) => store.readFeed(key, conversationId, afterSeq, limit),
      repliesTo: (messageId) => store.feedRepliesTo(key, messageId),
      watch: (listener) =>
        store.onFeedAppended?.((e) => {
          if (e.entryKey === key) listener(e.conversationId, e.replyTo);
        }) ?? (() => {}),
    };
  }

  private setState(runtime: Runtime, state: EntryStatus['state']): void {
    if (runtime.status.state !== state) runtime.status.since = this.deps.clock.now();
    runtime.status.state = state;
    if (state === 'running') runtime.status.nextRestartAt = undefined;
  }
}

/** An entry's status with its channel's transport, read live from the running instance. */
function statusWithTransport(r: Runtime): EntryStatus {
  const transport = r.instance?.transportStatus();
  return transport ? { ...r.status, transport } : { ...r.status };
}

/** What an entry runs with: its spec and the values its references resolve to, hashed (no secret is kept). */
function fingerprintOf(spec: EntrySpec, deps: Pick<SceneKeeperDeps, 'env' | 'vault'>): string {
  let resolved: unknown;
  try {
    resolved = resolveReferences(spec.config, { env: deps.env, vault: deps.vault, file: spec.file });
  } catch {
    resolved = spec.config;
  }
  return sha256Hex(JSON.stringify([spec.channel, spec.enabled, spec.target, resolved]));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock, key: string): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      clock.sleep(ms, timer.signal).then(() => {
        throw new CocoError('COCO_ERR_CHANNEL_START_TIMEOUT', `entry "${key}" did not become ready within ${ms} ms`, { retryable: true });
      }),
    ]);
  } finally {
    timer.abort();
  }
}
