import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { signBody } from '../../src/core/signature.js';
import { readBody } from '../fakes/http.js';
import { closeAfterEach, type Opened } from '../helpers/cleanup.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { relayGateway, RELAY_ENTRY } from '../helpers/relay.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * An http agent answers now and again later: a long task's result, posted back to CocoCat signed
 * with the agent's secret (`POST /api/v1/agents/{agentId}/messages/{messageId}/replies`).
 */

const opened = closeAfterEach();
const SECRET = 'agent-secret-0123456789';

/** A service that answers each POST with the next of `answers` (then `{reply: "ok"}`), keeping what it was sent. */
async function agentService(opened: Opened, answers: object[]) {
  const received: { history: { role: string; content: string }[]; message: { content: string; gateway_id: string } }[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      received.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers.shift() ?? { reply: 'ok' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`, received };
}

/** The service posting a later reply, signed as CocoCat signs its requests to the service. */
function postLater(t: TestGateway, path: string, body: unknown, opts: { secret?: string; at?: number; key?: string; headers?: Record<string, string> } = {}) {
  const raw = JSON.stringify(body);
  const timestamp = String(Math.floor((opts.at ?? Date.now()) / 1000));
  return t.app.inject({
    method: 'POST',
    url: `/api/v1/agents/${path}/replies`,
    headers: {
      'content-type': 'application/json',
      'x-cococat-timestamp': timestamp,
      'x-cococat-signature': signBody(opts.secret ?? SECRET, timestamp, raw),
      ...(opts.key ? { 'idempotency-key': opts.key } : {}),
      ...opts.headers,
    },
    payload: raw,
  });
}

describe('later replies from an http agent', () => {
  it('reaches the user after the first answer, once per Idempotency-Key, and joins the history', async () => {
    const service = await agentService(opened, [{ reply: 'On it: the report takes a few minutes.', later: true }]);
    const { fake, t } = await relayGateway(opened, { provider: 'http', url: service.url, secret: SECRET });
    fake.push('alice', 'compile the Q3 report');
    await t.until(() => fake.received('alice').length === 1);
    // The service names the message by the gateway_id it was sent.
    const id = service.received[0]!.message.gateway_id;
    const [message] = await t.gateway.store.listMessages({ limit: 1 });
    expect(id).toBe(message!.id);
    expect((await t.gateway.store.getMessage(id))!.timeline.find((e) => e.stage === 'replied')?.detail).toMatch(/; the agent answers later$/);

    const body = { text: '**Q3**: revenue 1.2M, costs 0.9M.', format: 'markdown' };
    const first = await postLater(t, `assistant/messages/${id}`, body, { key: 'q3-report' });
    expect([first.statusCode, first.json()]).toEqual([202, expect.objectContaining({ messageId: id, chunks: 1, duplicate: false })]);
    // The service retries its POST (a timeout on its side): nothing more goes out.
    const again = await postLater(t, `assistant/messages/${id}`, body, { key: 'q3-report' });
    expect([again.statusCode, again.json().duplicate]).toEqual([202, true]);
    await t.until(() => fake.received('alice').length === 2);
    await new Promise((r) => setTimeout(r, 200));
    // The relay shows no markdown: the user reads plain text.
    expect(fake.received('alice')).toEqual(['On it: the report takes a few minutes.', 'Q3: revenue 1.2M, costs 0.9M.']);

    const detail = (await t.admin('GET', `/messages/${id}`)).json;
    expect(detail.timeline.filter((e: { stage: string }) => e.stage === 'agent_later_reply')).toHaveLength(1);
    const transcript = (await t.admin('GET', `/entries/${RELAY_ENTRY}/conversations/alice/transcript`)).json.turns;
    expect(transcript.map((x: { role: string; by?: string }) => x.by ?? x.role)).toEqual(['user', 'agent', 'agent']);

    fake.push('alice', 'and Q4?');
    await t.until(() => service.received.length === 2);
    expect(service.received[1]!.history).toEqual([
      { role: 'user', content: 'compile the Q3 report' },
      { role: 'assistant', content: 'On it: the report takes a few minutes.' },
      { role: 'assistant', content: '**Q3**: revenue 1.2M, costs 0.9M.' },
    ]);
  });

  it('sends nothing now for a "later" answer without text: a waiting Web API client is told at once, and gets the reply later', async () => {
    const service = await agentService(opened, [{ later: true }]);
    const t = opened(await startTestGateway({ agents: { worker: { profile: { provider: 'http', url: service.url, secret: SECRET }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('worker.web_api')?.state === 'running');
    const res = await t.chat('worker.web_api', { userId: 'bea', content: 'render the video' }, { wait: true });
    expect([res.status, res.json.status, res.json.reply]).toEqual([200, 'not_answered', null]);
    expect(await t.gateway.store.readFeed('worker.web_api', 'bea', 0, 10)).toEqual([]);

    expect((await postLater(t, `worker/messages/${res.json.messageId}`, { text: 'Your video is ready: https://cdn.example/v/1.mp4' })).statusCode).toBe(202);
    const feed = await t.until(async () => {
      const items = await t.gateway.store.readFeed('worker.web_api', 'bea', 0, 10);
      return items.length === 1 && items;
    });
    expect(feed[0]!.payload).toMatchObject({ text: 'Your video is ready: https://cdn.example/v/1.mp4' });
  });

  it('takes only what the agent\'s secret signs, now, for a message that agent answers', async () => {
    const service = await agentService(opened, []);
    const entries = [webApiEntry()];
    const agents = {
      worker: { profile: { provider: 'http', url: service.url, secret: SECRET }, entries },
      other: { profile: { provider: 'http', url: service.url, secret: 'other-secret-0123456789' }, entries: [webApiEntry({}, 'second')] },
      plain: { profile: { provider: 'echo' } },
    };
    const t = opened(await startTestGateway({ agents }));
    await t.until(() => t.gateway.keeper.statusOf('worker.web_api')?.state === 'running' && t.gateway.keeper.statusOf('other.second')?.state === 'running');
    const mine = (await t.chat('worker.web_api', { userId: 'cat', content: 'hi' }, { wait: true })).json.messageId as string;
    const theirs = (await t.chat('other.second', { userId: 'cat', content: 'hi' }, { wait: true })).json.messageId as string;
    const body = { text: 'later' };
    const refusal = async (res: Awaited<ReturnType<typeof postLater>>) => [res.statusCode, res.json().error.code];

    expect(await refusal(await postLater(t, `worker/messages/${mine}`, body, { secret: 'not-the-secret-0123456' }))).toEqual([401, 'COCO_ERR_UNAUTHORIZED']);
    expect(await refusal(await postLater(t, `worker/messages/${mine}`, body, { at: Date.now() - 400_000 }))).toEqual([401, 'COCO_ERR_UNAUTHORIZED']);
    expect(await refusal(await postLater(t, `worker/messages/${mine}`, body, { headers: { 'x-cococat-signature': '' } }))).toEqual([401, 'COCO_ERR_UNAUTHORIZED']);
    // Unsigned, nothing is told: not even whether the agent exists.
    expect(await refusal(await postLater(t, `nobody/messages/${mine}`, body, { headers: { 'x-cococat-timestamp': '' } }))).toEqual([401, 'COCO_ERR_UNAUTHORIZED']);
    expect(await refusal(await postLater(t, `nobody/messages/${mine}`, body))).toEqual([404, 'COCO_ERR_NOT_FOUND']);
    expect(await refusal(await postLater(t, `plain/messages/${mine}`, body))).toEqual([403, 'COCO_ERR_FORBIDDEN']);
    // Another agent's conversation, even with a good signature of this agent's: not there.
    expect(await refusal(await postLater(t, `worker/messages/${theirs}`, body))).toEqual([404, 'COCO_ERR_NOT_FOUND']);
    const empty = await postLater(t, `worker/messages/${mine}`, { text: ' ' });
    expect([empty.statusCode, empty.json().error.field]).toEqual([400, 'text']);
    // Nothing of it was queued: each message has its one answer.
    for (const id of [mine, theirs]) expect((await t.gateway.store.getMessage(id))!.replies).toHaveLength(1);

    expect((await postLater(t, `worker/messages/${mine}`, body)).statusCode).toBe(202);
  });
});
