import { describe, expect, it } from 'vitest';
import { FakeIlink, type WeixinMessage } from '../fakes/ilink/index.js';
import { crashRig } from '../helpers/crash-rig.js';

const USERS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wechat_ilink crash recovery', () => {
  const rig = crashRig();

  it('answers each stored message once after a SIGKILL, with the messages handed out again', async () => {
    const fake = rig.own(await FakeIlink.start({ longPollMs: 500 }));
    await rig.start({ type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken } });
    await until(() => fake.calls.some((c) => c.endpoint === 'getupdates'), 20_000);

    // Stored while the agent is still thinking (the LLM holds every answer for 3 s); then the process dies.
    const messages: WeixinMessage[] = Array.from({ length: USERS }, (_, u) => fake.userSends(`crash${u}`, `question ${u}`));
    await until(() => savedPast(fake, messages.length), 10_000);
    await sleep(300);
    await rig.kill();
    expect(fake.sent()).toHaveLength(0);

    // iLink hands some of them out again after the restart: still one answer each.
    for (const m of messages.slice(0, 3)) fake.redeliver(m);
    await rig.restart();
    await fake.waitForSent(USERS, { timeoutMs: 20_000 });
    await sleep(800); // a duplicate would show up here
    for (let u = 0; u < USERS; u++) {
      expect(fake.sent(`crash${u}`).map((s) => [s.text, s.contextToken])).toEqual([[`reply to: question ${u}`, messages[u]!.context_token]]);
    }
    expect(fake.sent()).toHaveLength(USERS);
  }, 60_000);
});

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The gateway polled again from past the first `count` messages: it had stored them. */
function savedPast(fake: FakeIlink, count: number): boolean {
  const polls = fake.calls.filter((c) => c.endpoint === 'getupdates');
  const handedOut = new Set(polls.flatMap((c) => ((c.response as { msgs?: { message_id: number }[] } | undefined)?.msgs ?? []).map((m) => m.message_id)));
  return handedOut.size >= count && polls.at(-1)?.status === undefined && (polls.at(-1)?.body?.get_updates_buf ?? '') !== '';
}
