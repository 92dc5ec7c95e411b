import type { ChannelContext } from '../../src/core/channel.js';
import { memoryChannelState, noSignals } from '../../src/core/channel-state.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { localRateLimiter } from '../../src/core/rate-limiter.js';

/**
 * What the SceneKeeper gives a channel, for a channel test that runs it alone against a fake
 * platform: entry `bot.<type>`, an empty feed (platform channels send through the outbox), state in
 * memory, rate limits in this process on the given clock. Override what a test looks at.
 */
export function channelContext(type: string, overrides: Partial<ChannelContext> = {}): ChannelContext {
  const clock = overrides.clock ?? systemClock;
  return {
    entryKey: `bot.${type}`,
    entryId: type,
    log: silentLogger(),
    clock,
    feed: { append: async () => ({ seq: 0, duplicate: false }), read: async () => [], repliesTo: async () => [], watch: () => () => {} },
    state: memoryChannelState(),
    signals: noSignals(),
    sharedStore: false,
    rateLimiter: (_name, limit) => localRateLimiter(limit, clock),
    reportError: () => {},
    ...overrides,
  };
}
