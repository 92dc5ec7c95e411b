import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ChannelDefinition } from '../../src/channels/define.js';
import { installErrorHandler } from '../../src/server/errors.js';
import type { Channel, ChannelContext } from '../../src/core/channel.js';
import { noSignals, storeChannelState } from '../../src/core/channel-state.js';
import { systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { localRateLimiter } from '../../src/core/rate-limiter.js';
import type { ChatMessage, SendContext } from '../../src/core/message.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';

/** The platform side of a channel under contract test: a fake platform, or HTTP calls for the Web API. */
export interface PlatformDriver {
  /** The platform delivers one message from `userId`; `acked` tells whether the platform saw success. */
  deliver(message: { userId: string; text: string; msgId: string }): Promise<{ acked: boolean }>;
  /** Texts the user has received on the platform side, in order. */
  received(userId: string): Promise<string[]>;
  /** The user id the platform gives a user the test calls `userId`, when it has its own form (…@im.wechat); the same by default. */
  userIdOf?(userId: string): string;
}

export interface ChannelHarness {
  definition: ChannelDefinition;
  /**
   * Prepares the platform (starting a fake if any) and returns a config the channel accepts, plus the
   * driver. `app` has the channel's routes registered and is listening on `baseUrl`.
   */
  setup(env: { app: FastifyInstance; baseUrl: string; entryKey: string }): Promise<{
    config: Record<string, unknown>;
    driver: PlatformDriver;
    teardown?: () => Promise<void>;
  }>;
  /** The platform deduplicates sends by idempotency key (or the channel does), so a retried send shows once. */
  idempotentSend: boolean;
  /** The channel's delivery is its own feed (`feedDelivery()`, the Web API); false when omitted. */
  feedDelivery?: boolean;
}

const ENTRY_KEY = 'contract-agent.entry';
const SECRET_NAME = /key|secret|token|password/i;

/** How the outbox addresses the first reply chunk to a message. */
function replyContext(m: ChatMessage): SendContext {
  return {
    conversationId: m.conversationId,
    isGroup: m.isGroup,
    inReplyTo: m.msgId,
    messageId: '1',
    idempotencyKey: '1:0',
    chunk: { index: 0, count: 1 },
    replyMeta: m.replyMeta,
  };
}

/**
 * The contract every channel passes: run it from the channel's test file with a harness that
 * points the channel at its fake platform. Checks what the rest of CocoCat relies on.
 */
export function runChannelContract(name: string, harness: ChannelHarness): void {
  describe(`channel contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      while (cleanups.length) await cleanups.pop()!();
    });

    async function boot(onMessage?: (m: ChatMessage) => Promise<void>) {
      const store: Store = openSqliteStore({ path: ':memory:' });
      const received: ChatMessage[] = [];
      const errors: unknown[] = [];
      let instance: Channel | undefined;
      const ctx: ChannelContext = {
        entryKey: ENTRY_KEY,
        entryId: 'entry',
        log: silentLogger(),
        clock: systemClock,
        feed: {
          append: (item) => store.appendFeed({ ...item, entryKey: ENTRY_KEY }, Date.now()),
          read: (c, after, limit) => store.readFeed(ENTRY_KEY, c, after, limit),
          repliesTo: (id) => store.feedRepliesTo(ENTRY_KEY, id),
          watch: () => () => {}, // one process: nothing else appends
        },
        state: storeChannelState(store, ENTRY_KEY, systemClock),
        signals: noSignals(),
        sharedStore: false,
        rateLimiter: (_name, limit) => localRateLimiter(limit, systemClock),
        reportError: (e) => errors.push(e),
      };
      const app = Fastify() as unknown as FastifyInstance;
      installErrorHandler(app);
      harness.definition.routes?.(app, {
        lookup: (key) => {
          if (key !== ENTRY_KEY || !instance) throw new CocoError('COCO_ERR_NOT_FOUND', `no entry ${key}`, { statusCode: 404 });
          return instance;
        },
      });
      const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
      const platform = await harness.setup({ app, baseUrl, entryKey: ENTRY_KEY });
      instance = harness.definition.create(ctx);
      instance.sceneId = 'contract-agent';
      let seq = 0;
      const seen = new Map<string, { messageId: string; acceptedAt: number }>();
      instance.onMessage = async (message) => {
        await onMessage?.(message);
        received.push(message);
        const duplicate = seen.has(message.msgId);
        if (!duplicate) seen.set(message.msgId, { messageId: String(++seq), acceptedAt: Date.now() });
        return { ...seen.get(message.msgId)!, duplicate };
      };
      const config = harness.definition.configSchema.parse(platform.config);
      cleanups.push(async () => {
        await instance?.stop();
        await platform.teardown?.();
        await app.close();
        await store.close();
      });
      return { instance, config, received, errors, driver: platform.driver, store };
    }

    it('declares a type, a name, capabilities and a config schema that names its fields', () => {
      const def = harness.definition;
      expect(def.type).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(def.displayName.length).toBeGreaterThan(0);
      expect(def.description.length).toBeGreaterThan(10);
      expect(Array.isArray(def.capabilities.receives)).toBe(true);
      expect(def.capabilities.receives.length).toBeGreaterThan(0);
      const schema = z.toJSONSchema(def.configSchema, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, { writeOnly?: boolean; description?: string }>;
      };
      const properties = Object.entries(schema.properties ?? {});
      expect(properties.length).toBeGreaterThan(0);
      for (const [field, prop] of properties) {
        // Every field explains itself in the panel form; credential-like fields are write-only.
        expect(prop.description, `${field} needs help text`).toBeTruthy();
        if (SECRET_NAME.test(field) && !/^(max|min)_|_(limit|ms|bytes|mode)$/.test(field)) {
          expect(prop.writeOnly, `${field} must be marked secret()`).toBe(true);
        }
      }
      const empty = def.configSchema.safeParse({});
      if (!empty.success) expect(empty.error.issues.every((i) => i.path.length > 0)).toBe(true);
    });

    it('starts with a valid config, and stop() is idempotent', async () => {
      const { instance, config } = await boot();
      await instance.start('contract-agent', config);
      await instance.stop();
      await instance.stop();
    });

    it('turns a platform message into a complete ChatMessage and acks only after onMessage resolved', async () => {
      let handedOverAt = 0;
      const { instance, config, received, driver } = await boot(async () => {
        await new Promise((r) => setTimeout(r, 50));
        handedOverAt = Date.now();
      });
      await instance.start('contract-agent', config);
      const { acked } = await driver.deliver({ userId: 'user-1', text: 'hello contract', msgId: 'p-1' });
      const ackedAt = Date.now();
      expect(acked).toBe(true);
      expect(received).toHaveLength(1);
      expect(handedOverAt).toBeGreaterThan(0);
      expect(handedOverAt).toBeLessThanOrEqual(ackedAt);
      const m = received[0]!;
      expect(m.channelType).toBe(harness.definition.type);
      expect(m.sceneId).toBe('contract-agent');
      expect(m.userId).toBe(driver.userIdOf?.('user-1') ?? 'user-1');
      expect(m.conversationId.length).toBeGreaterThan(0);
      expect(m.content).toContain('hello contract');
      expect(m.msgId.length).toBeGreaterThan(0);
      expect(Number.isFinite(m.timestamp)).toBe(true);
      expect(typeof m.isGroup).toBe('boolean');
      expect(typeof m.mentionsBot).toBe('boolean');
      // ChatMessage is stored as JSON: it must survive the round trip unchanged.
      expect(JSON.parse(JSON.stringify(m))).toEqual(m);
    });

    it('gives a redelivered platform message the same msgId (the dedup key)', async () => {
      const { instance, config, received, driver } = await boot();
      await instance.start('contract-agent', config);
      await driver.deliver({ userId: 'user-2', text: 'again', msgId: 'p-2' });
      await driver.deliver({ userId: 'user-2', text: 'again', msgId: 'p-2' });
      await driver.deliver({ userId: 'user-2', text: 'other', msgId: 'p-3' });
      expect(received).toHaveLength(3);
      expect(received[0]!.msgId).toBe(received[1]!.msgId);
      expect(received[2]!.msgId).not.toBe(received[0]!.msgId);
    });

    it('does not ack a message the mailbox could not store, so the platform redelivers it', async () => {
      const { instance, config, driver } = await boot(async () => {
        throw new CocoError('COCO_ERR_STORE', 'disk full', { statusCode: 503 });
      });
      await instance.start('contract-agent', config);
      const { acked } = await driver.deliver({ userId: 'user-3', text: 'lost?', msgId: 'p-4' });
      expect(acked).toBe(false);
    });

    it('send() delivers to the conversation the message came from', async () => {
      const { instance, config, received, driver } = await boot();
      await instance.start('contract-agent', config);
      await driver.deliver({ userId: 'user-4', text: 'question', msgId: 'p-5' });
      const m = received[0]!;
      await instance.send({ text: 'the answer', format: 'text' }, m.userId, replyContext(m));
      expect(await driver.received('user-4')).toEqual(['the answer']);
    });

    it(`${harness.feedDelivery ? 'offers' : 'does not offer'} to deliver replies into its feed on completion`, async () => {
      const { instance, config } = await boot();
      await instance.start('contract-agent', config);
      expect(instance.feedDelivery() !== undefined).toBe(harness.feedDelivery ?? false);
    });

    it.runIf(harness.feedDelivery)('a reply appended through feedDelivery() reaches the user as send() would, and a later send() of it shows once', async () => {
      const { instance, config, received, driver, store } = await boot();
      await instance.start('contract-agent', config);
      await driver.deliver({ userId: 'user-6', text: 'q', msgId: 'p-7' });
      const m = received[0]!;
      const context = replyContext(m);
      const delivery = instance.feedDelivery()!;
      // What the store does on completion, then what the heartbeat does after the commit.
      const payload = delivery.payload({ text: 'from the feed', format: 'text' }, m.userId, context);
      await store.appendFeed({ entryKey: ENTRY_KEY, conversationId: context.conversationId, idempotencyKey: context.idempotencyKey, replyTo: context.messageId, payload }, Date.now());
      delivery.delivered(m.userId, context);
      expect(await driver.received('user-6')).toEqual(['from the feed']);
      // The outbox sending the same chunk later (a retry) appends nothing new.
      await instance.send({ text: 'from the feed', format: 'text' }, m.userId, context);
      expect(await store.feedRepliesTo(ENTRY_KEY, context.messageId)).toHaveLength(1);
    });

    it.runIf(harness.idempotentSend)('a retried send() with the same idempotency key shows once', async () => {
      const { instance, config, received, driver } = await boot();
      await instance.start('contract-agent', config);
      await driver.deliver({ userId: 'user-5', text: 'q', msgId: 'p-6' });
      const m = received[0]!;
      const context = replyContext(m);
      await instance.send({ text: 'once', format: 'text' }, m.userId, context);
      await instance.send({ text: 'once', format: 'text' }, m.userId, context);
      expect(await driver.received('user-5')).toEqual(['once']);
    });
  });
}
