// (i) WeCom self-built app callback ingress: every request signed (msg_signature) and AES-encrypted
// as WeCom sends it, verified (CorpID and AgentID checked), decrypted, parsed and committed to the
// mailbox before the gateway answers with an empty 200. The fake platform (in this process) issues
// the access token and takes the echo agent's message/send replies, as WeCom would. Every request
// comes from a new member, so the per-member pacing never holds a reply back.
import { signature } from '../src/channels/shared/tencent-crypto.js';
import { FakeWecom } from '../test/fakes/wecom/index.js';
import { makeWorkspace, removeWorkspace } from '../test/helpers/workspace.js';
import { phaseSeconds, warmupSeconds, type BenchOptions } from './lib/common.js';
import { startGateway } from './lib/child.js';
import { runLoad, type LoadFigures } from './lib/load.js';

const ENTRY = 'bench.app';

export async function wecomIngress(opts: BenchOptions): Promise<LoadFigures> {
  const fake = await FakeWecom.start();
  const root = makeWorkspace({
    agents: {
      bench: {
        profile: { provider: 'echo' },
        entries: [{
          id: 'app',
          type: 'channel',
          channel: 'wecom',
          config: { corp_id: fake.corpId, agent_id: fake.agentId, secret: fake.corpSecret, token: fake.token, encoding_aes_key: fake.encodingAesKey, api_base_url: fake.url },
        }],
      },
    },
  });
  try {
    const gw = await startGateway(root, { source: opts.source });
    try {
      // One timestamp for the run: well inside the gateway's 300 s window.
      const timestamp = String(Math.floor(Date.now() / 1000));
      return await runLoad({
        url: `${gw.ready.baseUrl}/webhooks/wecom/${ENTRY}`,
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        seconds: phaseSeconds(opts),
        warmupSeconds: warmupSeconds(opts),
        okStatus: 200,
        generate: (n) => {
          const xml = `<xml><ToUserName><![CDATA[${fake.corpId}]]></ToUserName><FromUserName><![CDATA[member${n}]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello from the benchmark ${n}]]></Content><MsgId>${7_000_000_000_000_000 + n}</MsgId><AgentID>${fake.agentId}</AgentID></xml>`;
          const encrypt = fake.crypto.encrypt(xml);
          const nonce = String(n);
          const query = new URLSearchParams({ msg_signature: signature(fake.token, timestamp, nonce, encrypt), timestamp, nonce });
          return {
            path: `/webhooks/wecom/${ENTRY}?${query}`,
            body: `<xml><ToUserName><![CDATA[${fake.corpId}]]></ToUserName><AgentID><![CDATA[${fake.agentId}]]></AgentID><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
          };
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
