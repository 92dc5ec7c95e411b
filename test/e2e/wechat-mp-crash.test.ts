import { describe, expect, it } from 'vitest';
import { startFakeWechatMp } from '../fakes/wechat-mp/server.js';
import { crashRig } from '../helpers/crash-rig.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'app-secret-0123456789', token: 'tok3n', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
const ENTRY = 'bot.wechat_mp';
const USERS = 10;

describe('wechat_mp crash recovery', () => {
  const rig = crashRig();

  it('delivers each acknowledged message once after a SIGKILL between the ack and the 客服 send', async () => {
    const fake = rig.own(await startFakeWechatMp({ ...APP, mode: 'safe', retryWaitMs: 1_000 }));
    let gateway = await rig.start({
      type: 'channel',
      channel: 'wechat_mp',
      config: { app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, encoding_aes_key: APP.encodingAesKey, mode: 'safe', api_base_url: fake.url, reply_mode: 'customer_service' },
    });
    fake.gatewayUrl = `${gateway.baseUrl}/webhooks/wechat_mp/${ENTRY}`;
    // The URL check passes once the entry is running (503 while it starts, e.g. fetching its token).
    for (let i = 0; (await fake.verifyUrl('ready')).status !== 200; i++) {
      if (i > 100) throw new Error('the wechat_mp entry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }

    // Every push is acknowledged ("success") at once; the agent is still thinking when the process dies.
    const pushes = await Promise.all(Array.from({ length: USERS }, (_, u) => fake.push(`oUser${u}`, { type: 'text', content: `question ${u}` })));
    expect(pushes.every((p) => p.attempts.length === 1 && p.attempts[0]!.body === 'success')).toBe(true);
    await rig.kill();
    expect(fake.sends).toHaveLength(0);

    gateway = await rig.restart();
    fake.gatewayUrl = `${gateway.baseUrl}/webhooks/wechat_mp/${ENTRY}`;
    const deadline = Date.now() + 20_000;
    while (Array.from({ length: USERS }, (_, u) => fake.received(`oUser${u}`).length).some((n) => n === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up here
    for (let u = 0; u < USERS; u++) expect(fake.received(`oUser${u}`)).toEqual([`reply to: question ${u}`]);
  }, 60_000);
});
