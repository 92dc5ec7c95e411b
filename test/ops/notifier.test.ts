import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { notifySchema, type NotifySettings } from '../../src/config/schema.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { signBody } from '../../src/core/signature.js';
import { GatewayMetrics } from '../../src/ops/metrics.js';
import { Notifier } from '../../src/ops/notifier.js';
import { readBody } from '../fakes/http.js';
import { startFakeGroupRobot } from '../fakes/group-robot/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { captureLogger } from '../helpers/logs.js';

const opened = closeAfterEach();
/** A notice text the same in every language. */
const both = (text: string) => ({ en: text, zh: text });

/** Moves a manual clock a second at a time, letting real I/O happen in between, until `done`. */
async function runUntil(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !done(); i++) {
    await clock.advance(1_000);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const notifier = (notify: Partial<NotifySettings> & { url: string }, o: { clock?: ManualClock; publicUrl?: string } = {}) => {
  const capture = captureLogger();
  const settings = notifySchema.parse(notify);
  const metrics = new GatewayMetrics();
  return { n: new Notifier({ settings: () => ({ notify: settings, publicUrl: o.publicUrl }), clock: o.clock ?? systemClock, log: capture.log, metrics }), capture, metrics };
};

describe('Notifier', () => {
  it('posts to a WeCom group robot as text, with a link to the message when the gateway has a public URL', async () => {
    const robot = opened(await startFakeGroupRobot());
    const { n } = notifier({ url: robot.wecomUrl, format: 'wecom', mention_all: ['handoff'] }, { publicUrl: 'https://bot.example.com/' });
    n.notify({ event: 'handoff', text: both('ann asked for a person on desk.wecom: "refund?"'), entryKey: 'desk.wecom', messageId: '42' });
    n.notify({ event: 'pairing', text: both('bob asks to talk') });
    await n.idle();
    expect(robot.received).toEqual([
      { via: 'wecom', text: '[CocoCat] ann asked for a person on desk.wecom: "refund?"\nhttps://bot.example.com/#/messages?id=42', mentionsAll: true },
      { via: 'wecom', text: '[CocoCat] bob asks to talk' },
    ]);
  });

  it("signs for a Feishu custom bot's signature check, which refuses an unsigned or wrongly signed notice (given up on after 3 tries)", async () => {
    const robot = opened(await startFakeGroupRobot({ feishuSecret: 'bot-secret' }));
    const good = notifier({ url: robot.feishuUrl, format: 'feishu', secret: 'bot-secret', mention_all: ['pairing'] });
    good.n.notify({ event: 'pairing', text: both('bob asks to talk') });
    await good.n.idle();
    expect(robot.received).toEqual([{ via: 'feishu', text: '[CocoCat] bob asks to talk', mentionsAll: true }]);

    const clock = new ManualClock(Date.now());
    const bad = notifier({ url: robot.feishuUrl, format: 'feishu', secret: 'another' }, { clock });
    bad.n.notify({ event: 'pairing', text: both('never shown') });
    let idle = false;
    void bad.n.idle().then(() => (idle = true));
    await runUntil(clock, () => idle);
    expect(robot.posts.filter((p) => p.code === 19021)).toHaveLength(3);
    const given = bad.capture.lines.find((l) => l.msg === 'notice not delivered to the notify URL; given up');
    expect(given).toMatchObject({ event: 'pairing', attempt: 3, err: expect.stringContaining('refused: 19021') });
    // The URL (with the robot's token) is never in the log.
    expect(JSON.stringify(bad.capture.lines)).not.toContain('hook-token');
    // Counted by outcome, for an alert on a revoked robot key.
    expect((await good.metrics.notices.get()).values).toEqual([{ value: 1, labels: { event: 'pairing', outcome: 'sent' } }]);
    expect((await bad.metrics.notices.get()).values).toEqual([{ value: 1, labels: { event: 'pairing', outcome: 'failed' } }]);
  });

  it('tries a failed POST again, and folds dead letters of one entry that wait together into one notice', async () => {
    const robot = opened(await startFakeGroupRobot());
    const clock = new ManualClock(Date.now());
    const { n } = notifier({ url: robot.wecomUrl, format: 'wecom' }, { clock });
    robot.failNext(1);
    for (let i = 0; i < 5; i++) n.notify({ event: 'dead_letter', text: both(`reply ${i} dead`), entryKey: 'desk.wecom' });
    n.notify({ event: 'dead_letter', text: both('other entry'), entryKey: 'desk.feishu' });
    let idle = false;
    void n.idle().then(() => (idle = true));
    await runUntil(clock, () => idle);
    // The first went out after one failure; the next four waited behind it and went as one.
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] reply 0 dead', '[CocoCat] reply 1 dead\n(and 3 more like it on desk.wecom)', '[CocoCat] other entry']);
  });

  it('says each notice in the language asked for (zh), folded dead letters too', async () => {
    const robot = opened(await startFakeGroupRobot());
    const { n } = notifier({ url: robot.wecomUrl, format: 'wecom', language: 'zh' });
    n.notify({ event: 'handoff', text: { en: 'ann asked for a person', zh: 'ann 请求人工客服' } });
    for (let i = 0; i < 3; i++) n.notify({ event: 'dead_letter', text: { en: `reply ${i} dead`, zh: `回复 ${i} 成为死信` }, entryKey: 'desk.wecom' });
    await n.idle();
    expect(robot.received.map((m) => m.text)).toEqual(['[CocoCat] ann 请求人工客服', '[CocoCat] 回复 0 成为死信\n（desk.wecom 上还有 2 条同类）']);
  });

  it('posts signed JSON to any URL, and sends only the events asked for', async () => {
    const got: { body: string; headers: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => void readBody(req).then((body) => (got.push({ body, headers: req.headers }), res.end('{}'))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    opened({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/cococat`;
    const { n } = notifier({ url, secret: 's3cret', events: ['handoff', 'entry_down'], language: 'zh' });
    n.notify({ event: 'dead_letter', text: both('not asked for') });
    n.notify({ event: 'handoff', text: both('ann asked for a person'), entryKey: 'desk.web_api', messageId: '7' });
    n.notify({ event: 'entry_down', text: { en: 'desk.wx works again', zh: 'desk.wx 已恢复' }, entryKey: 'desk.wx', resolved: true });
    await n.idle();
    expect(got).toHaveLength(2);
    const body = JSON.parse(got[0]!.body);
    expect(body).toMatchObject({ event: 'handoff', text: 'ann asked for a person', entryKey: 'desk.web_api', messageId: '7', resolved: false });
    // A notice that something is over says so, for a receiver that opened an incident.
    expect(JSON.parse(got[1]!.body)).toMatchObject({ event: 'entry_down', text: 'desk.wx 已恢复', entryKey: 'desk.wx', resolved: true });
    const ts = String(got[0]!.headers['x-cococat-timestamp']);
    expect(got[0]!.headers['x-cococat-signature']).toBe(signBody('s3cret', ts, got[0]!.body));
  });
});
