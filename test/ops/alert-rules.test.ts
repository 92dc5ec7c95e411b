import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway, timeFrom } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const ENTRY = 'assistant.web_api';

/** The sample alert rules shipped in docs/, as Prometheus reads them. */
function alertRules(): { alert: string; expr: string }[] {
  const doc = parse(readFileSync(new URL('../../docs/prometheus-alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

describe('metrics for alerting', () => {
  it('the sample alert rules use only metrics and labels the gateway exports', async () => {
    const t = opened(await startTestGateway({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    // One answered message, so the per-channel series exist too.
    await t.chat(ENTRY, { userId: 'ann', content: 'hi' }, { wait: true });
    const exported = await t.gateway.metrics.registry.metrics();
    const rules = alertRules();
    expect(rules.map((r) => r.alert)).toContain('CocoCatUsersWaiting');
    for (const { alert, expr } of rules) {
      for (const [, name] of expr.matchAll(/\b(cococat_[a-z_]+)/g)) {
        expect(exported, `${alert}: ${name}`).toContain(`# TYPE ${name} `);
      }
      for (const [, name, label, value] of expr.matchAll(/\b(cococat_[a-z_]+)\{(\w+)="(\w+)"/g)) {
        // Labelled only once a message failed, or a notice went out.
        if (name === 'cococat_messages_failed_total' || name === 'cococat_notices_total') continue;
        expect(exported, `${alert}: ${name}{${label}="${value}"}`).toContain(`${name}{${label}="${value}"`);
      }
    }
  });

  it('tells how long the oldest unanswered message has waited', async () => {
    let now = Date.UTC(2026, 11, 7, 9);
    const t = opened(await startTestGateway({ agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } } }, { clock: timeFrom(() => now) }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const waiting = async () => Object.fromEntries((await t.gateway.metrics.oldestWaiting.get()).values.map((v) => [v.labels.queue, v.value]));
    expect(await waiting()).toEqual({ inbound: 0, outbound: 0 });
    await t.gateway.heartbeat.stop(); // nobody answers from here on
    expect((await t.chat(ENTRY, { userId: 'ann', content: 'hello?' })).status).toBe(202);
    now += 90_000;
    await t.chat(ENTRY, { userId: 'bob', content: 'me too' });
    now += 30_000;
    expect(await waiting()).toEqual({ inbound: 120, outbound: 0 });
  });
});
