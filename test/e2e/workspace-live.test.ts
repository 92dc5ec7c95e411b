import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/config/atomic-write.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

describe('live workspace', () => {
  it('shows an entry with invalid config as error with the reason while the others keep serving', async () => {
    const t = opened(await startTestGateway({
      agents: {
        good: { profile: { provider: 'echo' }, entries: [webApiEntry()] },
        broken: {
          profile: { provider: 'echo' },
          entries: [
            { type: 'channel', channel: 'web_api', enabled: true, config: { api_key: 'short' } },
            { id: 'ghost', type: 'channel', channel: 'carrier_pigeon', enabled: true, config: {} },
            { id: 'unset', type: 'channel', channel: 'web_api', enabled: true, config: { api_key: '${NOT_SET_ANYWHERE}' } },
          ],
        },
      },
    }));
    await t.until(() => t.gateway.keeper.statusOf('good.web_api')?.state === 'running');
    await t.until(() => t.gateway.keeper.status().filter((s) => s.state === 'error').length === 3);
    const byKey = Object.fromEntries(t.gateway.keeper.status().map((s) => [s.key, s]));
    expect(byKey['broken.web_api']!.lastError).toMatchObject({
      code: 'COCO_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/agents\/broken\/entries\.json: entries\.0\.config\.api_key: must be at least 16 characters/),
    });
    expect(byKey['broken.ghost']!.lastError).toMatchObject({ code: 'COCO_ERR_CHANNEL_UNKNOWN', message: expect.stringMatching(/carrier_pigeon/) });
    expect(byKey['broken.unset']!.lastError).toMatchObject({ code: 'COCO_ERR_CONFIG_ENV_MISSING', message: expect.stringMatching(/NOT_SET_ANYWHERE/) });
    // The same view through the admin API, and the good entry answers.
    const status = await t.admin('GET', '/entries/broken.web_api/status');
    expect(status.json.state).toBe('error');
    expect((await t.chat('good.web_api', { userId: 'u', content: 'still here' }, { wait: true })).json.reply.text).toBe('still here');
    expect((await t.chat('broken.web_api', { userId: 'u', content: 'x' }, { key: 'short' })).status).toBe(503);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toMatchObject({ ready: true, entries: { running: 1, error: 3 } });
  });

  it('applies edits made on disk without a restart', async () => {
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo', prefix: 'v1: ' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
    expect((await t.chat('bot.web_api', { userId: 'u', content: 'a' }, { wait: true })).json.reply.text).toBe('v1: a');

    writeFileAtomic(join(t.root, 'agents', 'bot', 'profile.yaml'), 'provider: echo\nprefix: "v2: "\n');
    writeFileAtomic(
      join(t.root, 'agents', 'bot', 'entries.json'),
      JSON.stringify({ entries: [webApiEntry(), webApiEntry({}, 'second')] }),
    );
    t.gateway.reload();
    await t.until(() => t.gateway.keeper.statusOf('bot.second')?.state === 'running');
    expect((await t.chat('bot.web_api', { userId: 'u', content: 'b' }, { wait: true })).json.reply.text).toBe('v2: b');
    expect((await t.chat('bot.second', { userId: 'u', content: 'c' }, { wait: true })).json.reply.text).toBe('v2: c');
  });

  it('picks up file edits through the watcher', async () => {
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
    await t.gateway.close();
    // A gateway with the watcher on (the test harness turns it off by default).
    const { Gateway } = await import('../../src/gateway.js');
    const { silentLogger } = await import('../../src/core/logger.js');
    const watched = await Gateway.open({ workspace: t.root, env: {}, log: silentLogger(), tickMs: 50 });
    try {
      watched.start({ watchIntervalMs: 50 });
      await t.until(() => watched.keeper.statusOf('bot.web_api')?.state === 'running');
      writeFileAtomic(join(t.root, 'agents', 'bot', 'entries.json'), JSON.stringify({ entries: [{ ...webApiEntry(), enabled: false }] }));
      await t.until(() => watched.keeper.statusOf('bot.web_api')?.state === 'stopped', 5_000);
    } finally {
      await watched.close();
    }
  });

  it('routes a scene entry to the lead agent with the scene context', async () => {
    const llm = opened(await startFakeLlm());
    const t = opened(await startTestGateway({
      agents: {
        lead: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', system_prompt: 'You are Lead.' } },
        helper: { profile: { provider: 'echo' } },
      },
      scenes: {
        desk: { scene: { name: 'Front desk', roster: ['lead', 'helper'], context: 'Opening hours are 9-17.' }, entries: [webApiEntry()] },
      },
    }));
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    const res = await t.chat('desk.web_api', { userId: 'visitor', content: 'when are you open?' }, { wait: true });
    expect(res.json.reply.text).toBe('reply to: when are you open?');
    const system = llm.requests[0]!.body.messages![0]!;
    expect(system.role).toBe('system');
    expect(system.content).toContain('You are Lead.');
    expect(system.content).toContain('Opening hours are 9-17.');
  });
});
