import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createDemoWorkspace } from '../../config/demo-workspace.js';
import { SecretVault } from '../../config/secrets.js';
import { readEntriesRaw, writeEntriesRaw } from '../../config/workspace-writer.js';
import { createLogger } from '../../core/logger.js';
import { MAX_IMAGE_BYTES, sniffImageType } from '../../core/media.js';
import { Gateway } from '../../gateway.js';
import { buildServer } from '../../server/build-server.js';
import { FakeFeishu, textOf, type ReceiveMessageEvent, type SentMessage } from '../../../test/fakes/feishu/index.js';
import { startFakeWechatMp } from '../../../test/fakes/wechat-mp/server.js';
import { FakeIlink } from '../../../test/fakes/ilink/index.js';
import { FakeWecom, wecomMessage, type BotDelivery } from '../../../test/fakes/wecom/index.js';

export interface SimulateOptions {
  workspace: string;
  channel: string;
  agent: string;
  /** The simulated user's platform id; each channel has its own default. */
  user?: string;
  env: Record<string, string | undefined>;
  input: NodeJS.ReadableStream;
  print: (line: string) => void;
}

/** How long to keep listening for replies sent later (through an API) after the input ends. */
const LINGER_MS = 3_000;

/** One simulated platform: a fake account, the entry pointing at it, and how a typed line reaches the gateway. */
interface Simulation {
  /** The entry's channel type and config (secrets already in the vault). */
  channel: string;
  config: Record<string, unknown>;
  /** Called once the gateway listens (webhook platforms need its address). */
  listening(address: string, entryKey: string): void;
  intro: string[];
  /** One typed line, as the platform would deliver it; prints what the user sees. */
  send(text: string): Promise<void>;
  /** A photo the user sends (`/image <file>`), served by the fake as the platform serves media. */
  sendImage(data: Buffer): Promise<void>;
  /** Prints replies that arrived since the last call. */
  flush(): void;
  close(): Promise<void>;
}

type Simulator = (ctx: { vault: SecretVault; entryKey: string; agent: string; user?: string; print: (line: string) => void }) => Promise<Simulation>;

const SIMULATORS: Record<string, Simulator> = {
  wechat_mp: simulateWechatMp,
  wechat_ilink: simulateWechatIlink,
  feishu: simulateFeishu,
  wecom: simulateWecom,
  wecom_bot: simulateWecomBot,
};

/**
 * Runs the gateway against a local fake of the platform and lets you be the platform's user:
 * each line you type is pushed to the gateway exactly as the platform would (signed, encrypted),
 * and what the user would see comes back. No public URL, domain or account needed.
 */
export async function simulateCommand(opts: SimulateOptions): Promise<number> {
  const simulator = SIMULATORS[opts.channel];
  if (!simulator) {
    opts.print(`no simulator for "${opts.channel}"; available: ${Object.keys(SIMULATORS).join(', ')}`);
    return 2;
  }
  const root = resolve(opts.workspace);
  if (!existsSync(root) || readdirSync(root).length === 0) createDemoWorkspace(root, opts.env);
  if (!existsSync(join(root, 'agents', opts.agent, 'profile.yaml'))) {
    opts.print(`agent "${opts.agent}" does not exist in ${root}; choose one with --agent`);
    return 2;
  }

  const vault = new SecretVault(root);
  const entryKey = `${opts.agent}.simulator`;
  const sim = await simulator({ vault, entryKey, agent: opts.agent, user: opts.user, print: opts.print });
  const entries = readEntriesRaw(root, 'agent', opts.agent).filter((e) => e.id !== 'simulator');
  entries.push({ id: 'simulator', type: 'channel', channel: sim.channel, enabled: true, config: sim.config });
  writeEntriesRaw(root, 'agent', opts.agent, entries);

  const gateway = await Gateway.open({ workspace: root, env: opts.env, log: createLogger({ level: opts.env.COCOCAT_LOG_LEVEL ?? 'warn' }) });
  const app = await buildServer(gateway);
  gateway.start();
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  sim.listening(address, entryKey);
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
    for (const line of sim.intro) opts.print(line);
    opts.print('"/image <file>" sends a photo (png, jpeg, gif or webp; an agent with images: true sees it).');

    const poller = setInterval(() => sim.flush(), 100);
    try {
      for await (const line of createInterface({ input: opts.input, terminal: false })) {
        const text = line.trim();
        const image = /^\/image\s+(.+)$/.exec(text);
        if (image) await sendImageFile(sim, image[1]!, opts.print);
        else if (text) await sim.send(text);
      }
      const until = Date.now() + LINGER_MS;
      while (Date.now() < until) {
        sim.flush();
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      clearInterval(poller);
    }
    return 0;
  } finally {
    await app.close();
    await gateway.close();
    await sim.close();
  }
}

/** Reads the file a `/image` line names and sends it; a file that cannot be read is reported, not sent. */
async function sendImageFile(sim: Simulation, path: string, print: (line: string) => void): Promise<void> {
  let data: Buffer;
  try {
    data = readFileSync(resolve(path));
  } catch (err) {
    print(`(cannot read ${path}: ${(err as Error).message})`);
    return;
  }
  if (data.length > MAX_IMAGE_BYTES) {
    print(`(${path} is ${data.length} bytes; agents take images up to ${MAX_IMAGE_BYTES})`);
    return;
  }
  await sim.sendImage(data);
}

/** A 公众号 in safe mode, reply_mode auto: passive replies in the response, the rest through 客服. */
async function simulateWechatMp({ vault, entryKey, agent, user = 'oSimulatedUser', print }: Parameters<Simulator>[0]): Promise<Simulation> {
  // A simulated account: fresh credentials, kept in the vault like real ones.
  const account = { appId: `wx${randomBytes(8).toString('hex')}`, appSecret: randomBytes(16).toString('hex'), token: randomBytes(8).toString('hex'), encodingAesKey: randomBytes(32).toString('base64').slice(0, 43) };
  const fake = await startFakeWechatMp({ ...account, mode: 'safe' });
  let shown = 0;
  // The passive reply, when the agent answered within WeChat's 5 s; later ones come through 客服 (flush).
  const answered = (result: Awaited<ReturnType<typeof fake.push>>) => {
    const last = result.attempts.at(-1);
    if (result.reply) print(`公众号: ${result.reply.image ? imageLine(result.reply.image.data) : (result.reply.xml.Content ?? '')}`);
    else if (last?.status !== 200) print(`(the gateway answered ${last?.status ?? 'nothing'}: ${last?.body ?? last?.error ?? ''})`);
  };
  return {
    channel: 'wechat_mp',
    config: {
      app_id: account.appId,
      app_secret: vault.put(`${entryKey}.app_secret`, account.appSecret),
      token: vault.put(`${entryKey}.token`, account.token),
      encoding_aes_key: vault.put(`${entryKey}.encoding_aes_key`, account.encodingAesKey),
      mode: 'safe',
      reply_mode: 'auto',
      api_base_url: fake.url,
    },
    listening: (address) => {
      fake.gatewayUrl = `${address}/webhooks/wechat_mp/${entryKey}`;
    },
    intro: [
      `Simulated WeChat Official Account ↔ agent "${agent}" (entry ${entryKey}, safe mode, reply_mode auto).`,
      `You are the WeChat user ${user}. Type a message; /follow sends the subscribe event; Ctrl-D ends.`,
    ],
    async send(text) {
      const message = text === '/follow' ? ({ type: 'event', event: 'subscribe' } as const) : ({ type: 'text', content: text } as const);
      answered(await fake.push(user, message));
    },
    async sendImage(data) {
      answered(await fake.sendImage(user, data));
    },
    flush() {
      const received = fake.received(user);
      for (; shown < received.length; shown++) print(`公众号 (客服): ${received[shown]}`);
    },
    close: () => fake.close(),
  };
}

/** How long one typed line waits for its reply before the next line is sent. */
const FEISHU_REPLY_WAIT_MS = 10_000;

/** A Feishu self-built app over the long connection: direct chat by default, /group for a group @mention. */
async function simulateFeishu({ vault, entryKey, agent, user = 'ou_simulated0000000000000000000', print }: Parameters<Simulator>[0]): Promise<Simulation> {
  const fake = await FakeFeishu.start({ botName: 'CocoCat' });
  const pending: SentMessage[] = [];
  const stop = fake.onMessage((m) => pending.push(m));
  /** Prints the replies so far, in order; a card still filling in (and what came after it) waits until it is finished, or the end. */
  const flush = (all = false) => {
    while (pending.length > 0 && (all || fake.cardOf(pending[0]!.messageId)?.streaming !== true)) {
      const m = pending.shift()!;
      print(`飞书${m.replyTo ? ' (reply in the group)' : ''}: ${feishuText(m, fake)}`);
    }
  };
  return {
    channel: 'feishu',
    config: { app_id: fake.appId, app_secret: vault.put(`${entryKey}.app_secret`, fake.appSecret), domain: fake.url },
    listening: () => {},
    intro: [
      `Simulated Feishu app ↔ agent "${agent}" (entry ${entryKey}, long connection).`,
      `You are the Feishu user ${user} in a direct chat with the bot. Type a message; "/group text" says it in a group with @CocoCat; Ctrl-D ends.`,
    ],
    async send(text) {
      const group = /^\/group\s+(.+)$/.exec(text);
      await deliver(group ? fake.textEvent(group[1]!, { from: user, chatType: 'group', mentionBot: true }) : fake.textEvent(text, { from: user }), !!group);
    },
    sendImage: (data) => deliver(fake.imageEvent({ from: user, data }), false),
    flush: () => flush(),
    async close() {
      flush(true);
      stop();
      await fake.close();
    },
  };

  /** Pushes one event over the long connection and waits for the reply to it. */
  async function deliver(event: ReceiveMessageEvent, group: boolean): Promise<void> {
    const delivery = fake.pushEvent(event);
    await delivery.done;
    if (delivery.status !== 'acked') {
      print(`(the gateway did not acknowledge the event: ${delivery.acks.map((a) => a.code).join(', ') || 'no answer'})`);
      return;
    }
    // Replies are sent through the API after the ack; wait for this message's first one.
    const messageId = event.event.message.message_id;
    const chat = event.event.message.chat_id;
    // A streaming card counts once it is finished: the terminal shows the answer, not the text so far.
    const answered = () => pending.some((m) => (group ? m.replyTo === messageId : m.chatId === chat) && fake.cardOf(m.messageId)?.streaming !== true);
    await fake.waitFor(answered, FEISHU_REPLY_WAIT_MS, 'a reply').catch(() => undefined);
    flush();
  }
}

/** How long one typed line waits for its first reply before the next line is sent. */
const WECOM_REPLY_WAIT_MS = 10_000;

/** A WeCom self-built app in callback mode: encrypted pushes to the webhook, replies through message/send. */
async function simulateWecom({ vault, entryKey, agent, user = 'SimulatedMember', print }: Parameters<Simulator>[0]): Promise<Simulation> {
  const fake = await FakeWecom.start();
  let shown = 0;
  const flush = () => {
    const delivered = fake.delivered(user);
    for (; shown < delivered.length; shown++) print(`企业微信${delivered[shown]!.msgtype === 'markdown' ? ' (markdown)' : ''}: ${delivered[shown]!.content}`);
  };
  return {
    channel: 'wecom',
    config: {
      corp_id: fake.corpId,
      agent_id: fake.agentId,
      secret: vault.put(`${entryKey}.secret`, fake.corpSecret),
      token: vault.put(`${entryKey}.token`, fake.token),
      encoding_aes_key: vault.put(`${entryKey}.encoding_aes_key`, fake.encodingAesKey),
      welcome_text: `You are talking to agent "${agent}".`,
      api_base_url: fake.url,
    },
    listening: (address) => {
      fake.gatewayUrl = `${address}/webhooks/wecom/${entryKey}`;
    },
    intro: [
      `Simulated WeCom self-built app ↔ agent "${agent}" (entry ${entryKey}, callback mode).`,
      `You are the member ${user}. Type a message; /enter opens the app's chat (enter_agent); Ctrl-D ends.`,
    ],
    send: (text) => deliver(() => fake.push(user, text === '/enter' ? wecomMessage.enterAgent() : wecomMessage.text(text))),
    sendImage: (data) => deliver(() => fake.sendImage(user, data)),
    flush,
    close: () => fake.close(),
  };

  /** Pushes one callback and waits for the first reply sent after it. */
  async function deliver(push: () => ReturnType<typeof fake.push>): Promise<void> {
    const before = fake.delivered(user).length;
    const result = await push();
    const last = result.attempts.at(-1);
    if (last?.status !== 200) {
      print(`(the gateway answered ${last?.status ?? 'nothing'}: ${last?.body ?? last?.error ?? ''})`);
      return;
    }
    // Replies come through message/send after the empty 200; wait for this message's first one.
    await fake.waitFor(() => fake.delivered(user).length > before, WECOM_REPLY_WAIT_MS).catch(() => undefined);
    flush();
  }
}

/**
 * A WeCom intelligent robot (智能机器人) over its long connection: each line is a user's message
 * pushed over the socket; the streamed answer shows once finished, in the chat or a group.
 */
async function simulateWecomBot({ vault, entryKey, agent, user = 'SimulatedUser', print }: Parameters<Simulator>[0]): Promise<Simulation> {
  const fake = await FakeWecom.start();
  // Messages the robot sends on its own (aibot_send_msg), e.g. an answer that outlived its request.
  let shown = 0;
  const flush = () => {
    for (; shown < fake.botSent.length; shown++) print(`企业微信机器人 (sent later): ${fake.botSent[shown]!.content}`);
  };
  return {
    channel: 'wecom_bot',
    config: { bot_id: fake.botId, secret: vault.put(`${entryKey}.secret`, fake.botSecret), ws_url: fake.wsUrl },
    listening: () => undefined,
    intro: [
      `Simulated WeCom intelligent robot ↔ agent "${agent}" (entry ${entryKey}, long connection).`,
      `You are the user ${user}. Type a message; /group <text> @-mentions the robot in a group chat; Ctrl-D ends.`,
    ],
    async send(text) {
      const group = text.startsWith('/group ');
      await answerOf(fake.sendBotText(group ? text.slice('/group '.length) : text, { from: user, chatType: group ? 'group' : 'single' }), group);
    },
    sendImage: (data) => answerOf(fake.sendBotMessage({ type: 'image', data }, { from: user }), false),
    flush,
    close: () => fake.close(),
  };

  /** Waits for the streamed answer to one message and prints it once finished. */
  async function answerOf(delivery: BotDelivery, group: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([delivery.done, new Promise((r) => (timer = setTimeout(r, WECOM_REPLY_WAIT_MS)))]);
    clearTimeout(timer);
    const who = `企业微信机器人${group ? ' (in the group)' : ''}`;
    // Images an image-only answer put on its stream's finishing frame; its text is then their alt text, often empty.
    const images = delivery.stream?.images ?? [];
    if (delivery.text === undefined) print(`(no answer within ${WECOM_REPLY_WAIT_MS / 1000} s; the message is ${delivery.status})`);
    else if (delivery.text !== '' || images.length === 0) print(`${who}: ${delivery.text}`);
    for (const image of images) print(`${who}: ${imageLine(image.data)}`);
    flush();
  }
}

/** How long a typed line waits for the first part of the personal WeChat answer. */
const ILINK_REPLY_WAIT_MS = 30_000;

async function simulateWechatIlink({ vault, entryKey, agent, user = 'simulated_user', print }: Parameters<Simulator>[0]): Promise<Simulation> {
  // A short long poll, so the session ends promptly when the input does.
  const fake = await FakeIlink.start({ longPollMs: 5_000 });
  let shown = 0;
  const flush = () => {
    const sent = fake.sent(user);
    for (; shown < sent.length; shown++) print(`微信 bot: ${sent[shown]!.image ? imageLine(sent[shown]!.image!.data) : sent[shown]!.text}`);
  };
  return {
    channel: 'wechat_ilink',
    // The login's result, as if the QR code had been scanned: the token in the vault, the bot's id and address.
    config: { base_url: fake.url, cdn_base_url: fake.cdnUrl, bot_token: vault.put(`${entryKey}.bot_token`, fake.botToken), bot_id: fake.botId },
    listening: () => undefined,
    intro: [
      `Simulated personal WeChat (iLink) bot ${fake.botId} ↔ agent "${agent}" (entry ${entryKey}, long poll).`,
      `You are the user ${user}@im.wechat. Type a message; Ctrl-D ends.`,
    ],
    send: (text) => answerOf(() => fake.userSends(user, text)),
    sendImage: (data) => answerOf(() => fake.userSendsImage(user, data)),
    flush,
    close: () => fake.close(),
  };

  /** Has the user send one message and waits for the first part of the answer. */
  async function answerOf(userSends: () => void): Promise<void> {
    userSends();
    const deadline = Date.now() + ILINK_REPLY_WAIT_MS;
    while (fake.sent(user).length === shown && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (fake.sent(user).length === shown) print(`(no answer within ${ILINK_REPLY_WAIT_MS / 1000} s)`);
    flush();
  }
}

/** What a Feishu message shows: a text's text, a card's markdown, an image's size and type. */
function feishuText(m: SentMessage, fake: FakeFeishu): string {
  if (m.image) return imageLine(m.image.data);
  const card = fake.cardOf(m.messageId);
  if (card) return textOf(card.card);
  const content = m.content as { text?: unknown; body?: { elements?: { content?: unknown }[] } };
  if (typeof content.text === 'string') return content.text;
  const markdown = content.body?.elements?.map((e) => e.content).filter((c): c is string => typeof c === 'string');
  return markdown?.length ? markdown.join('\n') : m.rawContent;
}

/** An image the agent sent, as a terminal shows it: the same line the fakes use for their own logs. */
function imageLine(data: Buffer): string {
  return `[image ${data.length} bytes ${sniffImageType(data) ?? 'unknown type'}]`;
}
