import { relayChannel } from '../../examples/relay-channel/index.js';
import { startFakeRelay, type FakeRelay } from '../../examples/relay-channel/fake-platform.js';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { webApiChannel } from '../../src/channels/web-api/index.js';
import type { GatewayOptions } from '../../src/gateway.js';
import type { Opened } from './cleanup.js';
import { startTestGateway, type TestGateway } from './gateway.js';

/** The relay entry of the agent `assistant` that relayGateway starts. */
export const RELAY_ENTRY = 'assistant.relay';

/**
 * A fake relay platform and a gateway whose agent `assistant` (with `profile`) has one relay entry
 * on it, running: the channel the e2e tests use where a platform's own rules are not the point.
 */
export async function relayGateway(
  opened: Opened,
  profile: Record<string, unknown>,
  options: Partial<GatewayOptions> = {},
): Promise<{ fake: FakeRelay; t: TestGateway }> {
  const fake = opened(await startFakeRelay());
  const entry = { type: 'channel', channel: 'relay', config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 1_000 } };
  const registry = new ChannelRegistry([webApiChannel, relayChannel]);
  const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [entry] } } }, { registry, ...options }));
  await t.until(() => t.gateway.keeper.statusOf(RELAY_ENTRY)?.state === 'running');
  return { fake, t };
}
