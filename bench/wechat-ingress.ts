// (g) WeChat Official Account webhook ingress in safe mode: every request signed (signature and
// msg_signature) and AES-encrypted as WeChat sends it, verified, decrypted, parsed and committed to
// the mailbox before the gateway answers "success". The fake platform (in this process) issues the
// access token and takes the 客服 replies of the echo agent, as WeChat would.
import { signature, TencentCrypto } from '../src/channels/shared/tencent-crypto.js';
import { startFakeWechatMp } from '../test/fakes/wechat-mp/server.js';
import { makeWorkspace, removeWorkspace } from '../test/helpers/workspace.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { startGateway } from './lib/child.js';
import { runLoad, type LoadFigures } from './lib/load.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'bench-secret-0123456789', token: 'benchtoken', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR' };
const ENTRY = 'bench.mp';

export async function wechatIngress(opts: BenchOptions): Promise<LoadFigures> {
  const fake = await startFakeWechatMp({ ...APP, mode: 'safe' });
  const root = makeWorkspace({
    agents: {
      bench: {
        profile: { provider: 'echo' },
        entries: [{
          id: 'mp',
          type: 'channel',
          channel: 'wechat_mp',
          config: { app_id: APP.appId, app_secret: APP.appSecret, token: APP.token, encoding_aes_key: APP.encodingAesKey, mode: 'safe', reply_mode: 'customer_service', api_base_url: fake.url },
        }],
      },
    },
  });
  try {
    const gw = await startGateway(root, { source: opts.source });
    try {
      const crypto = new TencentCrypto({ token: APP.token, encodingAesKey: APP.encodingAesKey, receiveId: APP.appId });
      // One timestamp for the run: well inside the gateway's 300 s window.
      const timestamp = String(Math.floor(Date.now() / 1000));
      return await runLoad({
        url: `${gw.ready.baseUrl}/webhooks/wechat_mp/${ENTRY}`,
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        seconds: phaseSeconds(opts),
        warmupSeconds: warmupSeconds(opts),
        okStatus: 200,
        generate: (n) => {
          const user = `oBenchUser${n % 500}`;
          fake.userWrote(user); // so the 客服 replies are accepted, not refused as to an unknown user
          const xml = `<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[${user}]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello from the benchmark ${n}]]></Content><MsgId>${1_000_000_000_000 + n}</MsgId></xml>`;
          const encrypt = crypto.encrypt(xml);
          const nonce = String(n);
          const query = new URLSearchParams({
            signature: signature(APP.token, timestamp, nonce),
            timestamp,
            nonce,
            openid: user,
            encrypt_type: 'aes',
            msg_signature: signature(APP.token, timestamp, nonce, encrypt),
          });
          return { path: `/webhooks/wechat_mp/${ENTRY}?${query}`, body: `<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>` };
        },
      });
    } finally {
      await gw.stop();
    }
  } finally {
    await fake.close();
    removeWorkspace(root);
  }
}
