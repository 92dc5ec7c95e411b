import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineChannel, type ChannelDefinition } from '../../src/channels/define.js';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { SecretVault } from '../../src/config/secrets.js';
import { settingsSchema } from '../../src/config/schema.js';
import type { EntrySpec, WorkspaceSnapshot } from '../../src/config/workspace.js';
import { Channel } from '../../src/core/channel.js';
import { ManualClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { SceneKeeper } from '../../src/core/scene-keeper.js';
import { GatewayMetrics } from '../../src/ops/metrics.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { tempDirs } from '../helpers/temp-dirs.js';

/** A channel whose behaviour the test scripts: start ok / fail N times / hang; counts lifecycles. */
const probeSchema = z.object({
  mode: z.enum(['ok', 'fail', 'hang']).describe('what start does'),
  fail_times: z.number().int().min(0).default(1_000).describe('how many starts fail before one succeeds'),
  label: z.string().default('').describe('changes the config'),
});
const probes = { starts: new Map<string, number>(), stops: new Map<string, number>(), instances: new Map<string, ProbeChannel>() };

class ProbeChannel extends Channel<z.infer<typeof probeSchema>> {
  config?: z.infer<typeof probeSchema>;
  override async start(_sceneId: string, config: z.infer<typeof probeSchema>): Promise<void> {
    const n = (probes.starts.get(this.ctx.entryKey) ?? 0) + 1;
    probes.starts.set(this.ctx.entryKey, n);
    probes.instances.set(this.ctx.entryKey, this);
    this.config = config;
    if (config.mode === 'hang') return new Promise(() => undefined);
    if (config.mode === 'fail' && n <= config.fail_times) throw new CocoError('COCO_ERR_CHANNEL_START', `platform said no (start ${n})`);
  }
  override async send() {
    return {};
  }
  override async stop(): Promise<void> {
    probes.stops.set(this.ctx.entryKey, (probes.stops.get(this.ctx.entryKey) ?? 0) + 1);
  }
  /** Lets a test break a running channel. */
  breakDown(): void {
    this.ctx.reportError(new Error('socket died'));
  }
}

const probeChannel = defineChannel({
  type: 'probe',
  displayName: 'Probe',
  description: 'A scripted channel for SceneKeeper tests.',
  configSchema: probeSchema,
  capabilities: { receives: ['text'], markdown: false, sendsImages: false, streaming: false, typing: false, webhook: false },
  create: (ctx) => new ProbeChannel(ctx),
});

function entry(target: string, id: string, config: Record<string, unknown>, enabled = true): EntrySpec {
  return { key: `${target}.${id}`, id, target: { kind: 'agent', id: target }, channel: 'probe', enabled, config, file: `agents/${target}/entries.json`, index: 0 };
}

function snapshot(entries: EntrySpec[]): WorkspaceSnapshot {
  return { root: '/nowhere', settings: settingsSchema.parse({}), agents: new Map(), scenes: new Map(), entries, problems: [] };
}

describe('SceneKeeper', () => {
  const dirs = tempDirs();
  let clock: ManualClock;
  let store: Store;
  let keeper: SceneKeeper;

  beforeEach(() => {
    probes.starts.clear();
    probes.stops.clear();
    probes.instances.clear();
    clock = new ManualClock();
    store = openSqliteStore({ path: ':memory:' });
    keeper = new SceneKeeper({
      registry: new ChannelRegistry([probeChannel as unknown as ChannelDefinition]),
      store,
      clock,
      log: silentLogger(),
      metrics: new GatewayMetrics(false),
      vault: new SecretVault(dirs.make('cococat-vault-')),
      env: {},
      onEnqueued: () => undefined,
      startTimeoutMs: 5_000,
      owner: 'test-process',
      entryLeaseMs: 30_000,
      restartBackoff: { baseMs: 1_000, capMs: 8_000, jitter: 0.5 },
    });
  });
  afterEach(async () => {
    await keeper.stopAll();
    await store.close();
  });

  const state = (key: string) => keeper.statusOf(key)?.state;

  it('starts entries in parallel: a hanging one does not hold up the others, and times out', async () => {
    keeper.apply(snapshot([entry('a', 'slow', { mode: 'hang' }), entry('b', 'fast', { mode: 'ok' })]));
    await clock.advance(0);
    expect(state('b.fast')).toBe('running');
    expect(state('a.slow')).toBe('starting');
    await clock.advance(5_000);
    const slow = keeper.statusOf('a.slow')!;
    expect(slow.state).toBe('error');
    expect(slow.lastError?.code).toBe('COCO_ERR_CHANNEL_START_TIMEOUT');
    expect(slow.nextRestartAt).toBeGreaterThan(clock.now());
    expect(state('b.fast')).toBe('running');
  });

  it('restarts a failing entry with capped, jittered exponential backoff until it starts', async () => {
    keeper.apply(snapshot([entry('a', 'flaky', { mode: 'fail', fail_times: 5 })]));
    await clock.advance(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const status = keeper.statusOf('a.flaky')!;
      expect(status.state).toBe('error');
      expect(status.lastError?.message).toBe(`platform said no (start ${i + 1})`);
      delays.push(status.nextRestartAt! - clock.now());
      await clock.advance(status.nextRestartAt! - clock.now());
    }
    expect(state('a.flaky')).toBe('running');
    expect(keeper.statusOf('a.flaky')!.restarts).toBe(5);
    expect(probes.starts.get('a.flaky')).toBe(6);
    // Retry n waits between half and all of min(cap, base * 2^(n-1)).
    delays.forEach((d, i) => {
      const full = Math.min(8_000, 1_000 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    });
  });

  it('shows an invalid config as error naming file and field, without retrying, while others run', async () => {
    keeper.apply(snapshot([entry('a', 'bad', { mode: 'sideways' }), entry('b', 'good', { mode: 'ok' })]));
    await clock.advance(0);
    const bad = keeper.statusOf('a.bad')!;
    expect(bad.state).toBe('error');
    expect(bad.lastError?.code).toBe('COCO_ERR_CONFIG_INVALID');
    expect(bad.lastError?.message).toMatch(/agents\/a\/entries\.json: entries\.0\.config\.mode/);
    expect(bad.nextRestartAt).toBeUndefined();
    await clock.advance(600_000);
    expect(probes.starts.get('a.bad')).toBeUndefined();
    expect(state('b.good')).toBe('running');
  });

  it('restarts an entry that reports a runtime failure', async () => {
    keeper.apply(snapshot([entry('a', 'live', { mode: 'ok' })]));
    await clock.advance(0);
    probes.instances.get('a.live')!.breakDown();
    await clock.advance(0);
    expect(state('a.live')).toBe('error');
    expect(keeper.statusOf('a.live')!.lastError?.message).toBe('socket died');
    expect(probes.stops.get('a.live')).toBe(1);
    await clock.advance(1_000);
    expect(state('a.live')).toBe('running');
    expect(probes.starts.get('a.live')).toBe(2);
  });

  it('applies config changes, disabling and removal without touching unchanged entries', async () => {
    keeper.apply(snapshot([entry('a', 'one', { mode: 'ok' }), entry('a', 'two', { mode: 'ok' })]));
    await clock.advance(0);
    keeper.apply(snapshot([entry('a', 'one', { mode: 'ok', label: 'v2' }), entry('a', 'two', { mode: 'ok' })]));
    await clock.advance(0);
    expect(probes.starts.get('a.one')).toBe(2);
    expect(probes.instances.get('a.one')!.config?.label).toBe('v2');
    expect(probes.starts.get('a.two')).toBe(1);

    keeper.apply(snapshot([entry('a', 'one', { mode: 'ok', label: 'v2' }, false), entry('a', 'two', { mode: 'ok' })]));
    await clock.advance(0);
    expect(state('a.one')).toBe('stopped');
    expect(keeper.channel('a.one')).toBeUndefined();
    expect(() => keeper.lookup('a.one', 'probe')).toThrow(/disabled/);

    keeper.apply(snapshot([]));
    await clock.advance(0);
    expect(keeper.status()).toEqual([]);
    expect(probes.stops.get('a.two')).toBe(1);
  });
});
