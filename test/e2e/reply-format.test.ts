import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { webApiChannel } from '../../src/channels/web-api/index.js';
import { relayChannel } from '../../examples/relay-channel/index.js';
import { startFakeRelay } from '../../examples/relay-channel/fake-platform.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

const MARKDOWN = '## Steps\n\n1. Open **settings**\n2. Set `max_tokens` in my_profile.yaml\n\n```\nrun --fast\n```';

describe('reply format per channel', () => {
  it('sends markdown to a channel that renders it, and readable plain text to one that does not', async () => {
    const llm = opened(await startFakeLlm({ reply: () => MARKDOWN }));
    const relay = opened(await startFakeRelay());
    const registry = new ChannelRegistry([webApiChannel, relayChannel]);
    const relayEntry = { type: 'channel', channel: 'relay', enabled: true, config: { base_url: relay.url, token: relay.token, poll_timeout_ms: 1_000 } };
    const t = opened(await startTestGateway(
      { agents: { bot: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, entries: [webApiEntry(), relayEntry] } } },
      { registry },
    ));
    await t.until(() => t.gateway.keeper.statusOf('bot.relay')?.state === 'running');

    const web = await t.chat('bot.web_api', { userId: 'w', content: 'how?' }, { wait: true });
    expect(web.json.reply).toEqual({ text: MARKDOWN, format: 'markdown' });

    relay.push('r', 'how?', 'p-1');
    await t.until(() => relay.received('r').length > 0);
    expect(relay.received('r')).toEqual(['Steps\n\n1. Open settings\n2. Set max_tokens in my_profile.yaml\n\nrun --fast']);
  });

  it("sends an answer's images to a channel that sends images, and their links to one that cannot", async () => {
    const png = solidPng(2, 3);
    const answer = {
      reply: 'Here you go',
      images: [{ url: 'https://cdn.example.com/chart.png', alt: 'the chart' }, { data_base64: png.toString('base64'), mime_type: 'image/png' }],
    };
    // An agent service answering every message with text and two images.
    const service = createServer((req, res) => {
      req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => service.close(() => r())) });
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/agent`;
    const relay = opened(await startFakeRelay());
    const registry = new ChannelRegistry([webApiChannel, relayChannel]);
    const relayEntry = { type: 'channel', channel: 'relay', enabled: true, config: { base_url: relay.url, token: relay.token, poll_timeout_ms: 1_000 } };
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'http', url }, entries: [webApiEntry(), relayEntry] } } }, { registry }));
    await t.until(() => t.gateway.keeper.statusOf('bot.relay')?.state === 'running');

    const web = await t.chat('bot.web_api', { userId: 'w', content: 'chart?' }, { wait: true });
    expect(web.json.reply).toEqual({
      text: 'Here you go',
      format: 'text',
      images: [{ url: 'https://cdn.example.com/chart.png', alt: 'the chart' }, { url: `data:image/png;base64,${png.toString('base64')}` }],
    });

    relay.push('r', 'chart?', 'p-2');
    await t.until(() => relay.received('r').length > 0);
    expect(relay.received('r')).toEqual(['Here you go\nthe chart: https://cdn.example.com/chart.png\n[an image this chat cannot show]']);
    const [message] = await t.gateway.store.listMessages({ entryKey: 'bot.relay', limit: 1 });
    expect((await t.gateway.store.getMessage(message!.id))?.replies.map((r) => r.image)).toEqual([undefined]);
  });
});
