import { describe, expect, it } from 'vitest';
import { relayChannel } from '../../examples/relay-channel/index.js';
import { startFakeRelay } from '../../examples/relay-channel/fake-platform.js';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { webApiChannel } from '../../src/channels/web-api/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const RELAY = 'desk.relay';

/** A help desk scene behind one relay account and one Web API entry: a front agent leads, sales and vip take what routes give them. */
async function desk(routes: unknown[]) {
  const fake = opened(await startFakeRelay());
  const relay = { type: 'channel', channel: 'relay', config: { base_url: fake.url, token: fake.token, poll_timeout_ms: 1_000 } };
  const echo = (prefix: string, extra: Record<string, unknown> = {}) => ({ profile: { provider: 'echo', prefix, ...extra } });
  const t = opened(
    await startTestGateway(
      {
        agents: { front: echo('front: ', { debounce: { quiet_ms: 400 } }), sales: echo('sales: '), vip: echo('vip: ') },
        scenes: { desk: { scene: { roster: ['front', 'sales', 'vip'], routes }, entries: [relay, webApiEntry({}, 'partners')] } },
      },
      { registry: new ChannelRegistry([webApiChannel, relayChannel]) },
    ),
  );
  await t.until(() => t.gateway.keeper.statusOf(RELAY)?.state === 'running' && t.gateway.keeper.statusOf('desk.partners')?.state === 'running');
  return { fake, t };
}

describe('scene routes: which agent of a scene answers', () => {
  it('routes by sender, by words and by entry, says so in the message log, and ends a burst where another agent takes over', async () => {
    const { fake, t } = await desk([
      { agent: 'vip', users: ['boss'] },
      { agent: 'sales', contains: ['price', '价格'] },
      { agent: 'sales', entries: ['partners'] },
    ]);
    fake.push('ann', 'hello');
    fake.push('boss', 'what is the price?');
    fake.push('cid', '请问价格');
    await t.until(() => ['ann', 'boss', 'cid'].every((u) => fake.received(u).length === 1));
    expect([fake.received('ann'), fake.received('boss'), fake.received('cid')]).toEqual([['front: hello'], ['vip: what is the price?'], ['sales: 请问价格']]);
    const [cids] = await t.gateway.store.listMessages({ userId: 'cid', limit: 1 });
    const detail = (await t.gateway.store.getMessage(cids!.id))?.timeline.find((e) => e.stage === 'replied')?.detail;
    expect(detail).toMatch(/^1 attempt\(s\), \d+ ms; by sales \(the scene's routes\.1\)$/);

    // The Web API entry "partners" is the sales agent's, whatever is asked.
    expect((await t.chat('desk.partners', { userId: 'p1', content: 'hello' }, { wait: true })).json.reply.text).toBe('sales: hello');

    // ann writes twice in a row: the front agent would answer both at once (debounce), but the
    // second is the sales agent's, so each is answered by its own agent.
    fake.push('ann', 'one more thing');
    fake.push('ann', 'the price of the blue one?');
    await t.until(() => fake.received('ann').length === 3);
    expect(fake.received('ann').slice(1).sort()).toEqual(['front: one more thing', 'sales: the price of the blue one?']);
  });

  it('follows an edit of the routes at once, and refuses a route to an agent outside the roster', async () => {
    const { fake, t } = await desk([]);
    fake.push('ann', 'price?');
    await t.until(() => fake.received('ann').length === 1);
    expect(fake.received('ann')).toEqual(['front: price?']);
    const scene = (await t.admin('GET', '/scenes/desk')).json.scene;
    expect((await t.admin('PUT', '/scenes/desk', { ...scene, routes: [{ agent: 'sales', contains: ['price'] }] })).status).toBe(200);
    fake.push('ann', 'price now?');
    await t.until(() => fake.received('ann').length === 2);
    expect(fake.received('ann')[1]).toBe('sales: price now?');

    const bad = await t.admin('PUT', '/scenes/desk', { ...scene, routes: [{ agent: 'nobody', users: ['x'] }] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('routes.0.agent');
  });
});
