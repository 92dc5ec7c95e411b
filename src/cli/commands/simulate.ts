import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createDemoWorkspace } from '../../config/demo-workspace.js';
import { SecretVault } from '../../config/secrets.js';
import { readEntriesRaw, writeEntriesRaw } from '../../config/workspace-writer.js';
import { createLogger } from '../../core/logger.js';
import { Gateway } from '../../gateway.js';
import { buildServer } from '../../server/build-server.js';
import { startFakeWechatMp } from '../../../test/fakes/wechat-mp/server.js';

export interface SimulateOptions {
  workspace: string;
  channel: string;
  agent: string;
  user: string;
  env: Record<string, string | undefined>;
  input: NodeJS.ReadableStream;
  print: (line: string) => void;
}

const SIMULATORS = ['wechat_mp'];
/** How long to keep listening for replies sent later through the 客服 API after the input ends. */
const LINGER_MS = 3_000;

/**
 * Runs the gateway against a local fake of the platform and lets you be the platform's user:
 * each line you type is pushed to the gateway exactly as the platform would (signed, encrypted),
 * and what the user would see comes back. No public URL, domain or account needed.
 */
export async function simulateCommand(opts: SimulateOptions): Promise<number> {
  if (!SIMULATORS.includes(opts.channel)) {
    opts.print(`no simulator for "${opts.channel}"; available: ${SIMULATORS.join(', ')}`);
    return 2;
  }
  const root = resolve(opts.workspace);
  if (!existsSync(root) || readdirSync(root).length === 0) createDemoWorkspace(root, opts.env);
  if (!existsSync(join(root, 'agents', opts.agent, 'profile.yaml'))) {
    opts.print(`agent "${opts.agent}" does not exist in ${root}; choose one with --agent`);
    return 2;
  }

  // A simulated account: fresh credentials, kept in the vault like real ones.
  const account = { appId: `wx${randomBytes(8).toString('hex')}`, appSecret: randomBytes(16).toString('hex'), token: randomBytes(8).toString('hex'), encodingAesKey: randomBytes(32).toString('base64').slice(0, 43) };
  const fake = await startFakeWechatMp({ ...account, mode: 'safe' });
  const vault = new SecretVault(root);
  const entryKey = `${opts.agent}.simulator`;
  const entries = readEntriesRaw(root, 'agent', opts.agent).filter((e) => e.id !== 'simulator');
  entries.push({
    id: 'simulator',
    type: 'channel',
    channel: 'wechat_mp',
    enabled: true,
    config: {
      app_id: account.appId,
      app_secret: vault.put(`${entryKey}.app_secret`, account.appSecret),
      token: vault.put(`${entryKey}.token`, account.token),
      encoding_aes_key: vault.put(`${entryKey}.encoding_aes_key`, account.encodingAesKey),
      mode: 'safe',
      reply_mode: 'auto',
      api_base_url: fake.url,
    },
  });
  writeEntriesRaw(root, 'agent', opts.agent, entries);

  const gateway = await Gateway.open({ workspace: root, env: opts.env, log: createLogger({ level: opts.env.COCOCAT_LOG_LEVEL ?? 'warn' }) });
  const app = await buildServer(gateway);
  gateway.start();
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  fake.gatewayUrl = `${address}/webhooks/wechat_mp/${entryKey}`;
  try {
    const deadline = Date.now() + 10_000;
    while (gateway.keeper.statusOf(entryKey)?.state !== 'running') {
      const status = gateway.keeper.statusOf(entryKey);
      if (status?.state === 'error' || Date.now() > deadline) {
        opts.print(`the simulated entry did not start: ${status?.lastError?.message ?? 'timeout'}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    opts.print(`Simulated WeChat Official Account ↔ agent "${opts.agent}" (entry ${entryKey}, safe mode, reply_mode auto).`);
    opts.print(`You are the WeChat user ${opts.user}. Type a message; /follow sends the subscribe event; Ctrl-D ends.`);

    let shown = 0;
    const showCustomerService = () => {
      const received = fake.received(opts.user);
      for (; shown < received.length; shown++) opts.print(`公众号 (客服): ${received[shown]}`);
    };
    const poller = setInterval(showCustomerService, 100);
    try {
      for await (const line of createInterface({ input: opts.input, terminal: false })) {
        const text = line.trim();
        if (!text) continue;
        const message = text === '/follow' ? ({ type: 'event', event: 'subscribe' } as const) : ({ type: 'text', content: text } as const);
        const result = await fake.push(opts.user, message);
        const last = result.attempts.at(-1);
        if (result.reply) opts.print(`公众号: ${result.reply.xml.Content ?? ''}`);
        else if (last?.status !== 200) opts.print(`(the gateway answered ${last?.status ?? 'nothing'}: ${last?.body ?? last?.error ?? ''})`);
      }
      const until = Date.now() + LINGER_MS;
      while (Date.now() < until) {
        showCustomerService();
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      clearInterval(poller);
    }
    return 0;
  } finally {
    await app.close();
    await gateway.close();
    await fake.close();
  }
}
