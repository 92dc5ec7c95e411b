import { z } from 'zod';
import { secret } from '../../config/schema.js';

/** The official SDK's built-in long-connection address (`@wecom/aibot-node-sdk`, option `wsUrl`). */
export const WECOM_BOT_WS_URL = 'wss://openws.work.weixin.qq.com';

export const wecomBotConfigSchema = z
  .object({
    bot_id: z
      .string()
      .regex(/^\S{1,128}$/, 'must be the Bot ID without spaces (智能机器人 → API 模式 → 长连接)')
      .describe('Bot ID of the intelligent robot (智能机器人 → the robot → API 模式, 使用长连接)'),
    secret: secret(z.string().regex(/^\S{1,256}$/, 'must be the Secret without spaces')).describe(
      'Secret shown next to the Bot ID; the long connection authenticates with both',
    ),
    ws_url: z
      .url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' })
      .default(WECOM_BOT_WS_URL)
      .describe('Long-connection address; point it at a local fake (cococat simulate) for testing'),
    bot_name: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'The robot\'s name as members see it. Group messages start with "@name"; with the name set it is removed exactly, without it the first @word of a group message is taken as the mention',
      ),
    group_policy: z
      .enum(['mention', 'all', 'off'])
      .default('mention')
      .describe(
        'Which group messages are answered: mention (those that @mention the robot), all, off (none). WeCom forwards a group message to the robot only when it is @mentioned, so mention and all differ only if it ever forwards others. Direct chats are always answered',
      ),
    welcome_text: z
      .string()
      .min(1)
      .max(2_000)
      .optional()
      .describe('Sent when a member opens a direct chat with the robot (enter_chat, at most once a day per member); WeCom takes it only within 5 s'),
    show_typing: z
      .boolean()
      .default(true)
      .describe('When the agent takes a while (over 0.5 s), open the reply\'s stream at once with "…", so the member sees the robot is on it; the answer replaces it'),
    show_preview: z
      .boolean()
      .default(true)
      .describe(
        'Show the reply in its stream while the agent writes it (agents that stream, e.g. openai with stream on), updated at most every 0.5 s; the finished answer replaces it and is sent once either way',
      ),
    heartbeat_interval_seconds: z
      .number()
      .int()
      .min(5)
      .max(120)
      .default(30)
      .describe('Seconds between pings on the long connection (the SDK and WeCom use 30)'),
    liveness_timeout_seconds: z
      .number()
      .int()
      .min(10)
      .max(600)
      .default(75)
      .describe(
        'When nothing at all (ping answer, message, event) arrives for this long, the connection is taken as dead and reopened; at least twice the heartbeat interval, so one lost answer is not enough',
      ),
    reconnect_max_delay_seconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(30)
      .describe('The longest wait between reconnect attempts (the wait doubles from 1 s up to this, with jitter; attempts never stop)'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.liveness_timeout_seconds < 2 * config.heartbeat_interval_seconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['liveness_timeout_seconds'],
        message: `must be at least twice heartbeat_interval_seconds (${2 * config.heartbeat_interval_seconds})`,
      });
    }
  });

export type WecomBotChannelConfig = z.infer<typeof wecomBotConfigSchema>;
