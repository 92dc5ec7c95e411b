import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { TEST_API_KEY, webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

describe('secrets never reach the log', () => {
  it('keeps API keys out of every log line, even at trace level and on errors', async () => {
    const capture = captureLogger('trace');
    const llm = opened(await startFakeLlm({ apiKey: 'sk-llm-secret-value-1234' }));
    const t = opened(await startTestGateway(
      {
        agents: {
          // The agent's key is wrong for the first call: the 401 path logs an error.
          bot: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'sk-wrong-secret-value-9876', retries: 0 }, entries: [webApiEntry()] },
        },
      },
      { log: capture.log },
    ));
    await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
    await t.chat('bot.web_api', { userId: 'u', content: 'hello' }, { wait: true });
    await t.chat('bot.web_api', { userId: 'u', content: 'x' }, { key: 'cc_web_presented-wrong-key-555' });
    const created = await t.admin('POST', '/agents/bot/entries', {
      id: 'second',
      channel: 'web_api',
      config: { api_key: 'cc_web_brand-new-secret-777777' },
    });
    expect(created.status).toBe(201);
    await t.until(() => t.gateway.keeper.statusOf('bot.second')?.state === 'running');
    await t.admin('PUT', '/agents/bot', { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'sk-llm-secret-value-1234' });
    await t.chat('bot.web_api', { userId: 'u', content: 'again' }, { wait: true });

    const log = capture.raw();
    expect(capture.lines.length).toBeGreaterThan(3);
    expect(log).toMatch(/agent/); // the failed attempt was logged…
    for (const secret of ['sk-llm-secret-value-1234', 'sk-wrong-secret-value-9876', 'cc_web_brand-new-secret-777777', TEST_API_KEY, 'cc_web_presented-wrong-key-555']) {
      expect(log, `log must not contain ${secret}`).not.toContain(secret); // …without its key
    }
  });
});

describe('the secret vault holds only what the config references', () => {
  it('drops a stored secret when the entry switches to an ${ENV} reference, and on delete', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' } } } }, { env: { COCOCAT_ADMIN_TOKEN: 'admin-token-for-tests-0123456789', WEB_KEY: 'from-the-environment-123' } }));
    const vault = () => JSON.parse(readFileSync(join(t.root, 'data', 'secrets.json'), 'utf8')) as Record<string, string>;
    expect((await t.admin('POST', '/agents/bot/entries', { channel: 'web_api', config: { api_key: 'stored-literal-key-12345' } })).status).toBe(201);
    expect(vault()['bot.web_api.api_key']).toBe('stored-literal-key-12345');
    const switched = await t.admin('PUT', '/agents/bot/entries/web_api', { channel: 'web_api', config: { api_key: '${WEB_KEY}' } });
    expect(switched.json.secrets.api_key).toEqual({ set: true, source: 'env' });
    expect(vault()).not.toHaveProperty('bot.web_api.api_key');
    await t.admin('PUT', '/agents/bot/entries/web_api', { channel: 'web_api', config: { api_key: 'stored-again-key-67890' } });
    expect(vault()['bot.web_api.api_key']).toBe('stored-again-key-67890');
    expect((await t.admin('DELETE', '/agents/bot/entries/web_api')).status).toBe(204);
    expect(vault()).toEqual({});
  });
});
