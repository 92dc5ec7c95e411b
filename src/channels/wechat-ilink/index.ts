import { defineChannel } from '../define.js';
import { IlinkChannel } from './channel.js';
import { ilinkConfigSchema, type IlinkChannelConfig } from './config.js';
import { startIlinkLogin } from './login.js';
import { fetchIlinkMedia } from './media.js';

export { IlinkChannel, type IlinkChannelConfig };

/** Personal WeChat (个人微信) through the official iLink bot API, with a QR login. */
export const wechatIlinkChannel = defineChannel({
  type: 'wechat_ilink',
  displayName: '个人微信 / Personal WeChat (iLink)',
  description:
    'A personal WeChat bot (微信 ClawBot) through the official iLink bot API: log in by scanning a QR code, messages arrive by long poll (no public URL needed), replies answer each message. Direct chats only.',
  translations: { zh: { displayName: '个人微信（iLink）', description: '个人微信机器人（微信 ClawBot），通过官方 iLink 机器人 API：扫码登录，消息经长轮询送达（无需公网地址），逐条回复。仅支持单聊。' } },
  configSchema: ilinkConfigSchema,
  // iLink shows plain text; OpenClaw's WeChat plugin cuts replies at 4 000 characters. Reply images are uploaded
  // to WeChat's CDN and sent as image messages of their own.
  capabilities: { receives: ['text', 'image', 'voice', 'video', 'file'], markdown: false, maxMessageChars: 4_000, groups: false, threads: false, sendsImages: true, streaming: false, typing: true, webhook: false, mergesBursts: true },
  // One poller per bot: with several gateway processes, one polls at a time.
  exclusive: true,
  create: (ctx) => new IlinkChannel(ctx),
  login: startIlinkLogin,
  // Images (and files) users send: downloaded from WeChat's CDN and decrypted with the item's key.
  fetchMedia: fetchIlinkMedia,
});
