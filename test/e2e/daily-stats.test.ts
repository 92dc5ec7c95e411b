import { describe, expect, it } from 'vitest';
import { statsCommand } from '../../src/cli/commands/stats.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

describe('GET /api/admin/stats/days', () => {
  it("counts today's messages in the asked time zone, and refuses a bad zone or number of days by field", async () => {
    const t = opened(await startTestGateway({ agents: { desk: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    for (const content of ['one', 'two', 'three']) expect((await t.chat('desk.web_api', { userId: 'ann', content }, { wait: true })).json.status).toBe('answered');

    const res = await t.admin('GET', '/stats/days?days=2&timezone=Asia/Shanghai');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ timezone: 'Asia/Shanghai', retentionHours: 168 });
    const [yesterday, today] = res.json.days;
    expect(yesterday).toMatchObject({ received: 0, meanFinishMs: null, entries: {} });
    expect(today).toMatchObject({ received: 3, done: 3, fallback: 0, dead: 0, waiting: 0, entries: { 'desk.web_api': { received: 3, done: 3 } } });
    expect(today.to - today.from).toBe(86_400_000);
    expect(today.from).toBeLessThanOrEqual(Date.now());
    expect(today.to).toBeGreaterThan(Date.now());
    expect(today.meanFinishMs).toBeGreaterThanOrEqual(0);
    expect((await t.admin('GET', '/stats/days?entry=desk.other')).json.days.at(-1).received).toBe(0);
    expect((await t.admin('GET', '/stats/days')).json.days).toHaveLength(7);

    for (const [query, field] of [['timezone=Mars/Base', 'timezone'], ['days=0', 'days'], ['days=32', 'days'], ['days=two', 'days']] as const) {
      const bad = await t.admin('GET', `/stats/days?${query}`);
      expect([bad.status, bad.json.error.field]).toEqual([400, field]);
    }
  });

  it('cococat stats prints the days as a table, and says what a bad query is', async () => {
    const t = opened(await startTestGateway({ agents: { desk: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('desk.web_api')?.state === 'running');
    await t.chat('desk.web_api', { userId: 'ann', content: 'hi' }, { wait: true });
    await t.chat('desk.web_api', { userId: 'bo', content: 'hello' }, { wait: true });
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const printed: string[] = [];
    const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l: string) => printed.push(l) };
    expect(await statsCommand({ ...opts, days: '3', timeZone: 'Asia/Shanghai' })).toBe(0);
    expect(printed).toHaveLength(5);
    expect(printed[0]).toMatch(/^day\s+received\s+done\s+fallback\s+dead\s+waiting\s+mean finish$/);
    expect(printed[1]).toMatch(/^\d{4}-\d{2}-\d{2}\s+0\s+0\s+0\s+0\s+0\s+-$/);
    expect(printed[3]).toMatch(/^\d{4}-\d{2}-\d{2}\s+2\s+2\s+0\s+0\s+0\s+(\d+\.\d|< 0\.1) s$/);
    expect(printed[4]).toBe('(all entries; days in Asia/Shanghai; messages are kept 168 h, so older days are incomplete)');

    printed.length = 0;
    expect(await statsCommand({ ...opts, days: '90' })).toBe(2);
    expect(printed).toEqual([expect.stringMatching(/^HTTP 400: days: /)]);
  });
});
