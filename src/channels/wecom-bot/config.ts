import { z } from 'zod';
import { secret, zh } from '../../config/schema.js';

/** The official SDK's built-in long-connection address (`@wecom/aibot-node-sdk`, option `wsUrl`). */
export const WECOM_BOT_WS_URL = 'wss://openws.work.weixin.qq.com';

export const wecomBotConfigSchema = z
  .object({
    bot_id: z
      .string()
      .regex(/^\S{1,128}$/, 'must be the Bot ID without spaces (智能机器人 → API 模式 → 长连接)')
      .describe('Bot ID of the intelligent robot (智能机器人 → the robot → API 模式, 使用长连接)')
      .meta(zh('Bot ID', '智能机器人的 Bot ID（智能机器人 → 该机器人 → API 模式，使用长连接）')),
    secret: secret(z.string().regex(/^\S{1,256}$/, 'must be the Secret without spaces')).describe(
      'Secret shown next to the Bot ID; the long connection authenticates with both',
    ).meta(zh('Secret', 'Bot ID 旁边显示的 Secret；长连接用两者一起鉴权')),
    ws_url: z
      .url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' })
      .default(WECOM_BOT_WS_URL)
      .describe('Long-connection address; point it at a local fake (cococat simulate) for testing')
      .meta(zh('长连接地址', '长连接地址；测试时可指向本地模拟服务（cococat simulate）')),
    bot_name: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'The robot\'s name as members see it. Group messages start with "@name"; with the name set it is removed exactly, without it the first @word of a group message is taken as the mention',
      )
      .meta(zh('机器人名称', '成员看到的机器人名称。群消息以“@名称”开头；设置了名称时会精确地去掉它，未设置时把群消息中的第一个 @词 当作 @ 提及')),
    group_policy: z
      .enum(['mention', 'all', 'off'])
      .default('mention')
      .describe(
        'Which group messages are answered: mention (those that @mention the robot), all, off (none). WeCom forwards a group message to the robot only when it is @mentioned, so mention and all differ only if it ever forwards others. Direct chats are always answered',
      )
      .meta(zh('群消息策略', '回复哪些群消息：mention（@ 了机器人的消息）、all（全部）、off（都不回复）。企业微信只在机器人被 @ 时才把群消息转给它，因此只有当它转来其他消息时，mention 和 all 才有区别。单聊消息始终回复')),
    welcome_text: z
      .string()
      .min(1)
      .max(2_000)
      .optional()
      .describe('Sent when a member opens a direct chat with the robot (enter_chat, at most once a day per member); WeCom takes it only within 5 s')
      .meta(zh('欢迎语', '成员打开与机器人的单聊时发送（enter_chat，每位成员每天最多一次）；企业微信只在 5 秒内接收它')),
    show_typing: z
      .boolean()
      .default(true)
      .describe('When the agent takes a while (over 0.5 s), open the reply\'s stream at once with "…", so the member sees the robot is on it; the answer replaces it')
      .meta(zh('显示正在处理', '智能体耗时较长（超过 0.5 秒）时，立即以“…”开启回复的流式消息，让成员看到机器人正在处理；答案会替换它')),
    show_preview: z
      .boolean()
      .default(true)
      .describe(
        'Show the reply in its stream while the agent writes it (agents that stream, e.g. openai with stream on), updated at most every 0.5 s; the finished answer replaces it and is sent once either way',
      )
      .meta(zh('显示回复预览', '在智能体写回复的过程中，在流式消息中显示回复（适用于流式输出的智能体，如开启 stream 的 openai），最多每 0.5 秒更新一次；最终答案会替换它，且无论如何都只发送一次')),
    heartbeat_interval_seconds: z
      .number()
      .int()
      .min(5)
      .max(120)
      .default(30)
      .describe('Seconds between pings on the long connection (the SDK and WeCom use 30)')
      .meta(zh('心跳间隔（秒）', '长连接上两次 ping 之间的秒数（SDK 和企业微信使用 30）')),
    liveness_timeout_seconds: z
      .number()
      .int()
      .min(10)
      .max(600)
      .default(75)
      .describe(
        'When nothing at all (ping answer, message, event) arrives for this long, the connection is taken as dead and reopened; at least twice the heartbeat interval, so one lost answer is not enough',
      )
      .meta(zh('存活超时（秒）', '这么长时间内什么都没收到（ping 应答、消息、事件），即认为连接已断开并重新建立；至少为心跳间隔的两倍，这样丢失一次应答不足以触发')),
    reconnect_max_delay_seconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(30)
      .describe('The longest wait between reconnect attempts (the wait doubles from 1 s up to this, with jitter; attempts never stop)')
      .meta(zh('最长重连等待（秒）', '两次重连尝试之间的最长等待时间（等待时间从 1 秒起逐次翻倍，直到此值，并带随机抖动；重连永不停止）')),
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
