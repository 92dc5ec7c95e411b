import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

/**
 * Failover: when the conversation's agent still fails after its retries, the agents its profile
 * names in `failover` are asked in turn, each against its own endpoint; the conversation stays the
 * first agent's.
 */

const ENTRY = 'primary.web_api';
const opened = closeAfterEach();

async function setup() {
  const main = opened(await startFakeLlm());
  const backup = opened(await startFakeLlm({ reply: (body) => `backup says: ${String(body.messages!.at(-1)!.content)}` }));
  const t = opened(
    await startTestGateway({
      agents: {
        primary: {
          profile: {
            provider: 'openai', model: 'main-model', base_url: main.url, api_key: 'key-main', stream: false, retries: 0,
            fallback_reply: 'Nobody can answer now.', failover: ['backup'],
          },
          entries: [webApiEntry()],
        },
        backup: { profile: { provider: 'openai', model: 'backup-model', base_url: backup.url, api_key: 'key-backup', stream: false, retries: 0 }, entries: [] },
      },
    }),
  );
  await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
  return { main, backup, t };
}

async function repliedDetail(t: Awaited<ReturnType<typeof setup>>['t'], messageId: string) {
  return (await t.gateway.store.getMessage(messageId))!.timeline.find((e) => e.stage === 'replied')?.detail;
}

describe('agent failover', () => {
  it('asks the failover agent when the agent fails, keeps the conversation the first agent\'s, and says so in the log', async () => {
    const { main, backup, t } = await setup();
    main.failNext(1, { status: 500 });
    const res = await t.chat(ENTRY, { userId: 'ann', content: 'where is my parcel?' }, { wait: true });
    expect(res.json.reply.text).toBe('backup says: where is my parcel?');
    expect(main.requests).toHaveLength(1);
    expect(backup.requests).toHaveLength(1);
    expect(backup.requests[0]!.body.model).toBe('backup-model');
    expect(await repliedDetail(t, res.json.messageId)).toMatch(/answered by the failover agent backup after primary \(COCO_ERR_AGENT_FAILED\) failed/);
    expect((await t.gateway.metrics.agentFailovers.get()).values).toEqual([{ value: 1, labels: { outcome: 'answered' } }]);

    // The agent is back: it sees the turn its failover answered, in its own conversation.
    const next = await t.chat(ENTRY, { userId: 'ann', content: 'and when?' }, { wait: true });
    expect(next.json.reply.text).toBe('reply to: and when?');
    expect(main.requests[1]!.body.messages!.map((m) => m.content)).toEqual(['where is my parcel?', 'backup says: where is my parcel?', 'and when?']);
    expect(backup.requests).toHaveLength(1);
    expect(await repliedDetail(t, next.json.messageId)).not.toMatch(/failover/);
  });

  it('sends the first agent\'s fallback, naming every failure, when the failover fails too', async () => {
    const { main, backup, t } = await setup();
    main.failNext(1, { status: 503 });
    backup.failNext(1, { status: 401, message: 'Incorrect API key provided.' });
    const res = await t.chat(ENTRY, { userId: 'bob', content: 'hello?' }, { wait: true });
    expect(res.json.reply.text).toBe('Nobody can answer now.');
    const detail = (await t.gateway.store.getMessage(res.json.messageId))!.timeline;
    expect(detail.find((e) => e.stage === 'fallback')?.detail).toMatch(/every agent of the failover failed: primary \(COCO_ERR_AGENT_FAILED\), backup \(COCO_ERR_AGENT_FAILED\)/);
    expect(detail.find((e) => e.stage === 'agent_error')?.detail).toMatch(/401/);
    expect((await t.gateway.metrics.agentFailovers.get()).values).toEqual([{ value: 1, labels: { outcome: 'failed' } }]);
  });

  it('refuses a failover naming an agent that does not exist or the agent itself, and keeps a failover agent from being deleted', async () => {
    const { t } = await setup();
    const profile = (failover: string[]) => ({ provider: 'openai', model: 'main-model', base_url: 'http://127.0.0.1:9/v1', api_key: 'another-key', failover });
    for (const [failover, field] of [[['ghost'], 'failover.0'], [['backup', 'primary'], 'failover.1']] as const) {
      const res = await t.admin('PUT', '/agents/primary', profile([...failover]));
      expect([res.status, res.json.error.field]).toEqual([400, field]);
    }
    expect((await t.admin('GET', '/agents/primary')).json.profile.provider).toBe('openai');
    const deleted = await t.admin('DELETE', '/agents/backup');
    expect([deleted.status, deleted.json.error.message]).toEqual([409, 'agent "backup" is the failover of agent(s) primary; remove it there first']);
    expect((await t.admin('GET', '/agents/backup')).status).toBe(200);
  });
});
