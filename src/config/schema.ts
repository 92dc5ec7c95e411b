import { isTimeZone, WEEKDAYS } from '../core/business-hours.js';
import { NOTICE_LANGUAGES } from '../ops/notice-texts.js';
import { patternProblem } from '../core/keyword-patterns.js';
import { z } from 'zod';
import { ID_PATTERN } from '../core/ids.js';

/**
 * Marks a config field as a secret: write-only in the admin API and panel, masked in every
 * response, never logged. In JSON Schema it shows as `"writeOnly": true, "x-secret": true`.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ writeOnly: true, 'x-secret': true }) as T;
}

/**
 * A field's label and help in Chinese, for the panel's forms: `.meta(zh('企业 ID', '…'))` puts
 * `"x-i18n": {"zh": {"title", "description"}}` beside the English `description` in the JSON Schema.
 */
export function zh(title: string, description?: string): { 'x-i18n': { zh: { title: string; description?: string } } } {
  return { 'x-i18n': { zh: { title, ...(description !== undefined ? { description } : {}) } } };
}

export interface FieldIssue {
  /** Dotted path of the field; an unknown key names itself. */
  field: string;
  message: string;
}

/** What a zod issue is about, as field paths under `prefix` (an unknown-keys issue names each key). */
export function issueFields(issue: z.core.$ZodIssue, prefix: readonly (string | number)[] = []): FieldIssue[] {
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
  return keys.map((key) => ({
    field: [...prefix, ...issue.path.map(String), ...(key === undefined ? [] : [key])].join('.'),
    message: key === undefined ? issue.message : `unknown field "${key}"`,
  }));
}

/** The first thing wrong in a failed parse, for errors that name one field. */
export function firstIssue(error: z.ZodError, prefix: readonly (string | number)[] = []): FieldIssue {
  const issue = error.issues[0];
  return issue ? issueFields(issue, prefix)[0]! : { field: prefix.join('.'), message: 'is invalid' };
}

export const idSchema = z
  .string()
  .regex(ID_PATTERN, 'must be 1-64 characters of a-z, 0-9, "_" and "-", starting with a letter or digit');

// ── agents/{id}/profile.yaml ────────────────────────────────────────────────────────────────

/** How many messages one user may have answered, so a flood (or a script) cannot run up the model's bill. */
export const userLimitSchema = z
  .object({
    per_minute: z.number().int().min(1).max(10_000).optional().describe('Messages one user may have answered per minute (bursts up to this many)'),
    per_day: z.number().int().min(1).max(1_000_000).optional().describe('Messages one user may have answered per day'),
    tokens_per_day: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe("Model tokens (prompt and completion, as the model reports them) one user's answers may use per day; checked before each answer, so the answer that crosses it is still sent"),
    notice: z
      .string()
      .min(1)
      .max(2_000)
      // Neutral: the same default serves a burst (per_minute), a day's messages and a day's tokens.
      .default('I cannot answer more of your messages right now. Please try again later.')
      .describe('Sent instead of an answer when a user is over the limit, at most once a minute; later messages over it stay unanswered'),
  })
  .strict()
  .refine((l) => l.per_minute !== undefined || l.per_day !== undefined || l.tokens_per_day !== undefined, {
    message: 'set per_minute, per_day, tokens_per_day or several of them',
  });

export type UserLimit = z.infer<typeof userLimitSchema>;

/**
 * People type in bursts ("hi", "I have a question", "about my order"): answered one by one, each
 * gets its own answer. With this, the burst is answered once, after the user pauses.
 */
export const debounceSchema = z
  .object({
    quiet_ms: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .describe('Answer once no new message has come in the conversation for this long; everything since the last answer is answered together'),
    max_wait_ms: z
      .number()
      .int()
      .min(100)
      .max(300_000)
      .optional()
      .describe('Answer at the latest this long after the first unanswered message, even if more keep coming (default: 4 × quiet_ms)'),
    max_messages: z.number().int().min(2).max(50).default(10).describe('At most this many messages answered together; the ones after them start the next burst'),
  })
  .strict()
  .refine((d) => d.max_wait_ms === undefined || d.max_wait_ms >= d.quiet_ms, { message: 'max_wait_ms must be at least quiet_ms', path: ['max_wait_ms'] });

export type Debounce = z.infer<typeof debounceSchema>;

/** Platform ids: a user's or a group chat's id as the message log shows it. */
const idList = (what: string) => z.array(z.string().min(1).max(256)).max(10_000).optional().describe(what);

/** How a stranger asks to be let in (core/pairing.ts). */
export const pairingSchema = z
  .object({
    reply: z
      .string()
      .min(1)
      .max(2_000)
      .refine((s) => s.includes('{code}'), { message: 'must contain {code}, where the code goes' })
      .default('This assistant answers the people its owner has approved. To ask, send its owner this code: {code} (valid for {minutes} minutes).')
      .describe('Sent to a stranger in a direct chat with their code: {code} is replaced by it, {minutes} by how long it is valid'),
    approved_reply: z
      .string()
      .min(1)
      .max(2_000)
      .default('You have been approved: send me your message again.')
      .describe('Sent to the stranger when their code is approved'),
    groups: z
      .boolean()
      .default(false)
      .describe(
        'Groups too: a group not in allow_groups where someone addresses the agent gets a code for the group, and approving it adds the group to allow_groups. With it, groups are closed to everyone else even without allow_groups',
      ),
    group_reply: z
      .string()
      .min(1)
      .max(2_000)
      .refine((s) => s.includes('{code}'), { message: 'must contain {code}, where the code goes' })
      .default('This assistant works in the groups its owner has approved. To ask for this group, send its owner this code: {code} (valid for {minutes} minutes).')
      .describe('Sent into a group not approved yet, with the group\'s code (groups: true)'),
    group_approved_reply: z
      .string()
      .min(1)
      .max(2_000)
      .default('This group has been approved: mention me again with your question.')
      .describe("Sent into the group when its code is approved"),
    expires_minutes: z.number().int().min(5).max(10_080).default(60).describe('How long a code can be approved; a stranger who writes after that gets a new one'),
    max_pending: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(3)
      .describe('Codes waiting for approval at most, for this agent; strangers past that get the notice (or nothing) until one is approved, rejected or expired'),
  })
  .strict();

export type Pairing = z.infer<typeof pairingSchema>;

export const accessSchema = z
  .object({
    allow_users: idList('Direct chats: answer only these users (platform user ids, as the message log shows them); without it, everyone'),
    allow_groups: idList('Group chats: answer only in these groups (conversation ids, as the message log shows them); without it, every group the channel answers in'),
    block_users: idList('Never answer these users, in direct chats or in groups'),
    owners: idList(
      'Users who look after the agent from a chat with it: always answered, and in a direct chat "approve CODE" (批准 CODE) approves one of its pairing codes, "reject CODE" (拒绝 CODE) rejects one and "pairing" (配对) lists the open ones',
    ),
    notice: z
      .string()
      .min(1)
      .max(2_000)
      .optional()
      .describe('Sent to a user not in allow_users, in a direct chat, at most once a day (never into a group, never to a blocked user); without it, refused messages get no answer'),
    pairing: pairingSchema
      .optional()
      .describe(
        'Strangers in direct chats (and, with groups: true, groups) get a code to give the owner, who approves it in the panel, the admin API or with `cococat pairing approve CODE`; approved users are added to allow_users, approved groups to allow_groups ({} for the defaults). With pairing, direct chats are closed to everyone else even without allow_users',
      ),
  })
  .strict();

export type Access = z.infer<typeof accessSchema>;

/** Whole messages (ignoring case and surrounding spaces) that the gateway answers itself (see core/commands.ts). */
const commandList = z.array(z.string().trim().min(1).max(64)).max(20);
/** The gateway's answer to such a command. */
const commandReply = (text: string) => z.string().min(1).max(2_000).default(text).describe('The answer to such a message');

export const resetSchema = z
  .object({
    commands: commandList
      .min(1)
      .default(['/reset', '/new'])
      .describe('Messages that start a new conversation (the whole message, ignoring case and surrounding spaces)'),
    reply: commandReply('OK, starting a new conversation.'),
  })
  .strict();

export type Reset = z.infer<typeof resetSchema>;

/** How long one hand-over to a person lasts: an hour unless said, at most a week. */
export const DEFAULT_HANDOFF_MINUTES = 60;
export const MAX_HANDOFF_MINUTES = 7 * 24 * 60;
export const handoffMinutesSchema = z.number().int().min(1).max(MAX_HANDOFF_MINUTES);

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM, e.g. 09:00');

/** "12:00-13:30": a span within one day. */
const timeSpan = z.string().superRefine((span, ctx) => {
  if (!/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(span)) {
    ctx.addIssue({ code: 'custom', message: 'must be a span of the day as HH:MM-HH:MM, e.g. 12:00-13:30' });
  } else if (span.slice(0, 5) >= span.slice(6)) {
    ctx.addIssue({ code: 'custom', message: 'must end after it starts (within one day)' });
  }
});

const isDate = (text: string) => /^\d{4}-\d{2}-\d{2}$/.test(text) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);
const MAX_RANGE_DAYS = 366;

/** "2026-10-01", or "2026-10-01..2026-10-07" (both days included). */
const dateOrRange = z.string().superRefine((text, ctx) => {
  const [first, last = first, ...rest] = text.split('..');
  if (rest.length > 0 || !isDate(first!) || !isDate(last!)) {
    ctx.addIssue({ code: 'custom', message: 'must be a date as YYYY-MM-DD, or a range YYYY-MM-DD..YYYY-MM-DD' });
  } else if (last! < first!) {
    ctx.addIssue({ code: 'custom', message: 'a range must end on or after its first day' });
  } else if (Date.parse(last!) - Date.parse(first!) > MAX_RANGE_DAYS * 86_400_000) {
    ctx.addIssue({ code: 'custom', message: `a range may span at most ${MAX_RANGE_DAYS} days` });
  }
});

export const handoffHoursSchema = z
  .object({
    timezone: z
      .string()
      .refine(isTimeZone, { message: 'must be an IANA time zone, e.g. Asia/Shanghai' })
      .default('Asia/Shanghai')
      .describe('The time zone the hours are in (IANA), e.g. Asia/Shanghai'),
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .max(7)
      .default(['mon', 'tue', 'wed', 'thu', 'fri'])
      .describe('Days people are there: mon, tue, wed, thu, fri, sat, sun'),
    from: clockTime.default('09:00').describe('From this time of day (HH:MM)'),
    to: clockTime.default('18:00').describe('Up to this time of day (HH:MM); earlier than from: the hours run past midnight'),
    breaks: z
      .array(timeSpan)
      .max(10)
      .optional()
      .describe('Times of day within the hours nobody is there, e.g. ["12:00-13:30"]'),
    closed_dates: z
      .array(dateOrRange)
      .max(200)
      .optional()
      .describe('Holidays: dates nobody is there whatever the day, e.g. ["2026-10-01..2026-10-07", "2027-01-01"]'),
    open_dates: z
      .array(dateOrRange)
      .max(200)
      .optional()
      .describe('Dates people are there though the day is not one of days (a weekend made a workday, 调休), e.g. ["2026-09-27"]; closed_dates win'),
    closed_reply: z
      .string()
      .min(1)
      .max(2_000)
      .default('Our team is not available right now; I will keep helping you in the meantime.')
      .describe('Sent instead of a hand-over outside the hours (and after an agent\'s answer that asked for one)'),
  })
  .strict()
  .refine((h) => h.from !== h.to, { path: ['to'], message: 'must differ from from' });

export type HandoffHours = z.infer<typeof handoffHoursSchema>;

export const handoffSchema = z
  .object({
    commands: commandList
      .default(['转人工', '人工客服', '/human'])
      .describe('Messages that ask for a person (the whole message, ignoring case and surrounding spaces); [] for none'),
    minutes: handoffMinutesSchema.default(DEFAULT_HANDOFF_MINUTES).describe('How long the conversation stays with a person'),
    reply: commandReply('OK, a person will answer you here shortly.'),
    hours: handoffHoursSchema
      .optional()
      .describe('When people are there to take a conversation; outside them a user asking for one gets closed_reply and the agent keeps answering (without: any time)'),
  })
  .strict();

export type HandoffSettings = z.infer<typeof handoffSchema>;

/** Phrases a keyword reply looks for (ignoring case and surrounding spaces). */
const phraseList = z.array(z.string().trim().min(1).max(200)).min(1).max(50);

/** A regular expression a keyword reply looks for: one that compiles, and without nested repetition (which can take exponential time). */
const patternList = z
  .array(
    z
      .string()
      .min(1)
      .max(200)
      .superRefine((source, ctx) => {
        const problem = patternProblem(source);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  )
  .min(1)
  .max(20);

export const keywordReplySchema = z
  .object({
    match: phraseList.optional().describe('Whole messages answered with `reply` (ignoring case and surrounding spaces)'),
    contains: phraseList.optional().describe('Phrases that anywhere in a message make `reply` its answer (ignoring case)'),
    patterns: patternList
      .optional()
      .describe('Regular expressions (JavaScript syntax, ignoring case) that a message fits anywhere, e.g. ^(退款|退货) or order\\s*#?\\d{6}; nested repetition such as (a+)+ is refused'),
    events: phraseList
      .optional()
      .describe('Platform events answered with `reply`, as the message log names them without the brackets: "click HOURS" (a menu click), "subscribe"'),
    reply: z.string().min(1).max(2_000).describe('The answer, sent without running the agent'),
  })
  .strict()
  .refine((rule) => rule.match !== undefined || rule.contains !== undefined || rule.patterns !== undefined || rule.events !== undefined, {
    message: 'needs match, contains, patterns or events',
  });

export type KeywordReply = z.infer<typeof keywordReplySchema>;

export const contentFilterSchema = z
  .object({
    words: z
      .array(z.string().trim().min(1).max(100))
      .min(1)
      .max(50_000)
      .describe('Words and phrases matched anywhere in a text (Latin letters in any case, full-width forms as plain ones)'),
    ignore_separators: z
      .boolean()
      .default(true)
      .describe('Spaces, punctuation, symbols and invisible characters put between a word\'s characters (赌 博, 赌*博) do not hide it; false: matched as written'),
    incoming: z
      .enum(['refuse', 'pass'])
      .default('refuse')
      .describe('refuse: a message containing one is not given to the agent and is answered with `reply`; pass: it is given to the agent'),
    outgoing: z
      .enum(['mask', 'replace'])
      .default('mask')
      .describe('mask: each one in an answer is sent as ***; replace: an answer containing one is replaced by `reply`'),
    reply: z.string().min(1).max(2_000).default('Sorry, I cannot help with that.').describe('The answer to a refused message, and to an answer replaced'),
  })
  .strict();

export type ContentFilter = z.infer<typeof contentFilterSchema>;

const urlOrReference = z.string().refine((s) => /^\$\{[^}]+\}$/.test(s) || URL.canParse(s), { message: 'must be a URL or a ${ENV} reference' });

/** What an operator may do besides reading (`operator_tokens[].can`); an operator without `can` may do all of it. */
export const OPERATOR_PERMISSIONS = ['reply', 'handoff', 'pairing', 'senders', 'retry', 'chat'] as const;
export type OperatorPermission = (typeof OPERATOR_PERMISSIONS)[number];

/** What `notify` can tell the team about. */
export const NOTIFY_EVENTS = ['handoff', 'pairing', 'dead_letter', 'entry_down', 'agent_down', 'waiting'] as const;
/**
 * What an agent's or a scene's own `notify` tells its team by default: all that concerns it but
 * `waiting`, which it hears only when asked for (its users kept waiting, on its own entries).
 */
export const AGENT_NOTIFY_EVENTS = ['handoff', 'pairing', 'dead_letter', 'entry_down', 'agent_down'] as const;
const NOTIFY_EVENTS_HELP =
  'handoff: a user or an agent asked for a person; pairing: a stranger asks to be let in; dead_letter: a message or a reply was given up on; entry_down: an entry is in error or has lost its platform (and when it is back); agent_down: an agent fails run after run (and when it answers again)';

/** Where a team hears its notices: the gateway's `notify`, or an agent's own. */
const notifyReceiver = {
  url: secret(urlOrReference).describe(
    'Where notices go: a WeCom group robot (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…), a Feishu custom bot (https://open.feishu.cn/open-apis/bot/v2/hook/…), or your own URL; ${ENV} works',
  ),
  format: z.enum(['wecom', 'feishu', 'json']).default('json').describe('wecom: a WeCom group robot; feishu: a Feishu custom bot; json: a signed JSON POST'),
  secret: secret(z.string().min(1).optional()).describe("feishu: the bot's 签名校验 secret; json: signs each POST (X-CocoCat-Signature)"),
  mention_all: z
    .array(z.enum(NOTIFY_EVENTS))
    .default([])
    .describe('Events whose notices @mention everyone in the group (WeCom @all, Feishu 所有人), e.g. [handoff]'),
  events: z.array(z.enum(NOTIFY_EVENTS)).min(1),
  language: z.enum(NOTICE_LANGUAGES).default('en').describe('The language of the notices: en or zh (中文)'),
};

/**
 * An agent's or a scene's own team chat (`notify` in its profile or scene.yaml): its hand-overs,
 * pairing codes, dead letters, its entries' outages and (an agent's) its own failures go there too,
 * in that team's language.
 */
export const agentNotifySchema = z
  .object({
    ...notifyReceiver,
    events: notifyReceiver.events
      .default([...AGENT_NOTIFY_EVENTS])
      .describe(`${NOTIFY_EVENTS_HELP}; waiting (not by default): a message on its entries has waited long for its answer, or a reply for its delivery (and when none does)`),
  })
  .strict();

export type AgentNotifySettings = z.infer<typeof agentNotifySchema>;

const profileBase = {
  name: z.string().min(1).max(200).optional().describe('Display name').meta(zh('名称', '显示名称')),
  language: z
    .enum(['en', 'zh'])
    .default('en')
    .describe(
      'The language of the texts CocoCat sends by itself where the profile does not set them: the fallback reply, the replies and notices of user_limit, pairing, reset, handoff and content_filter, and the answers to owners\' commands (en: English, zh: 简体中文)',
    )
    .meta(zh('内置文本语言', 'CocoCat 自行发送且本配置未设置的文本所用的语言：兜底回复，user_limit、pairing、reset、handoff 和 content_filter 的回复与提示，以及对主人（owners）命令的回答（en：英语，zh：简体中文）')),
  system_prompt: z.string().max(100_000).optional().describe('Instructions given to the model before every conversation').meta(zh('系统提示词', '每次对话前交给模型的指令')),
  history_window: z
    .number()
    .int()
    .min(0)
    .max(200)
    .default(20)
    .describe('How many earlier turns of the conversation the agent sees')
    .meta(zh('历史轮数', '智能体能看到的本次对话此前的轮数')),
  history_max_chars: z
    .number()
    .int()
    .min(1_000)
    .max(10_000_000)
    .default(24_000)
    .describe(
      'At most this many characters of those turns, the newest (about as many tokens for Chinese, a quarter for English): a pasted document does not push every later request of the conversation past the model\'s context. Lower it for a model with a small context',
    )
    .meta(zh('历史字符上限', '上述轮次最多取这么多字符，取最新的部分（中文约合同样多的 token，英文约为四分之一）：这样粘贴进来的一篇文档不会让此后该对话的每次请求都超出模型的上下文。模型上下文较小时请调低')),
  history_idle_minutes: z
    .number()
    .int()
    .min(1)
    .max(525_600)
    .optional()
    .describe('A user who writes again after a pause this long starts afresh: the agent sees none of the turns before the pause (without: the pause does not matter)')
    .meta(zh('闲置后重新开始（分钟）', '用户停顿这么久后再发消息即重新开始：智能体看不到停顿之前的任何一轮对话（不设置：停顿多久都没有影响）')),
  timeout_ms: z.number().int().min(100).max(600_000).default(60_000).describe('Give up on one attempt after this long').meta(zh('单次超时（毫秒）', '单次尝试超过这么久即放弃')),
  retries: z.number().int().min(0).max(10).default(2).describe('Retries after a failed attempt, with backoff').meta(zh('重试次数', '尝试失败后的重试次数，带退避')),
  fallback_reply: z
    .string()
    .min(1)
    .max(2_000)
    .default('Sorry, I cannot answer right now. Please try again in a moment.')
    .describe('Sent when the agent still fails after all retries, so the user is never left in silence')
    .meta(zh('兜底回复', '智能体在全部重试后仍失败时发送，让用户不至于得不到任何回应')),
  failover: z
    .array(idSchema)
    .max(3)
    .refine((ids) => new Set(ids).size === ids.length, 'names an agent twice')
    .optional()
    .describe(
      'Agents asked in turn when this one still fails after its retries (an outage, a revoked key, a message too long for its model), each with its own provider, model, key and retries; the conversation, its history and the fallback reply stay this agent\'s. Their own failover lists are not followed',
    )
    .meta(zh('备用智能体', '本智能体在重试后仍失败时（服务中断、密钥被吊销、消息对其模型来说过长）依次求助的智能体，各自使用自己的提供方、模型、密钥和重试设置；对话、对话历史和兜底回复仍属于本智能体。不会再沿用它们各自的 failover 列表')),
  fallback_in_groups: z
    .boolean()
    .default(true)
    .describe('Also send the fallback reply in group chats; off: a failure there stays out of the group (still logged and in the message log)')
    .meta(zh('群聊中发送兜底回复', '在群聊中也发送兜底回复；关闭：群聊中的失败不会出现在群里（仍会写入日志，并出现在消息日志中）')),
  user_limit: userLimitSchema
    .optional()
    .describe('Limits how many messages each user may have answered (per entry)')
    .meta(zh('用户限额', '限制每个用户可获得回答的消息数（按接入分别计算）')),
  reset: resetSchema
    .optional()
    .describe('Let users make the agent forget the conversation so far by sending a command such as /reset ({} for the defaults)')
    .meta(zh('重置对话', '允许用户发送 /reset 等命令，让智能体忘掉此前的对话（填 {} 使用默认设置）')),
  notify: agentNotifySchema
    .optional()
    .describe("This agent's team chat: what concerns the agent is told there too (the gateway's notify, if any, still hears what it asks for)")
    .meta(zh('团队群通知', '本智能体的团队群：与本智能体相关的事项也会通知到这里（网关的 notify 若已配置，仍会收到它所订阅的通知）')),
  handoff: handoffSchema
    .optional()
    .describe('Let users ask for a person (转人工) and an http agent hand the conversation over ({} for the defaults)')
    .meta(zh('转人工', '允许用户请求人工（转人工），并允许 http 智能体把对话转交人工（填 {} 使用默认设置）')),
  keyword_replies: z
    .array(keywordReplySchema)
    .max(100)
    .optional()
    .describe('Fixed answers to given messages, phrases or menu clicks, sent at once without running the agent; the first rule that fits answers')
    .meta(zh('关键词回复', '针对指定消息、短语或菜单点击的固定回答，不运行智能体，立即发送；由第一条匹配的规则作答')),
  access: accessSchema
    .optional()
    .describe('Who the agent answers: allow lists for direct chats and groups, and blocked users')
    .meta(zh('访问控制', '智能体回答哪些人：私聊和群聊的白名单，以及被拉黑的用户')),
  content_filter: contentFilterSchema
    .optional()
    .describe('Filtered words: messages containing one are not given to the agent, and in answers they are masked (or the answer replaced), streamed previews included')
    .meta(zh('内容过滤', '过滤词：包含过滤词的消息不会交给智能体；回答中的过滤词会被打码（或整条回答被替换），流式预览也不例外')),
  debounce: debounceSchema
    .optional()
    .describe('Answer a burst of messages once, when the user pauses, instead of each message on its own (on channels that allow it)')
    .meta(zh('合并连续消息', '用户连发多条消息时，等用户停顿后一次性回答，而不是逐条分别回答（在允许这样做的渠道上）')),
};

/** For agents that can look at images (a vision model, a service that takes them). */
const imagesField = z
  .boolean()
  .default(false)
  .describe('Pass the images users send to the agent (up to 4 per message, 10 MiB each); the model or service must accept image input')
  .meta(zh('传递图片', '把用户发送的图片交给智能体（每条消息最多 4 张，每张不超过 10 MiB）；模型或服务必须支持图片输入'));

export const echoProfileSchema = z
  .object({
    provider: z.literal('echo').meta(zh('提供方')),
    ...profileBase,
    prefix: z.string().max(200).default('').describe('Text put before the echoed message').meta(zh('前缀', '加在回显消息前面的文字')),
    images: z
      .boolean()
      .default(false)
      .describe('Send the images users send back with the echo, each as an image message: tries out image replies on a channel')
      .meta(zh('回显图片', '把用户发送的图片随回显一起发回，每张作为一条图片消息：用于试用渠道上的图片回复')),
  })
  .strict();

export const openaiProfileSchema = z
  .object({
    provider: z.literal('openai').meta(zh('提供方')),
    ...profileBase,
    model: z
      .string()
      .min(1)
      .describe('Model name, e.g. gpt-4o-mini, deepseek-chat, qwen-plus')
      .meta(zh('模型', '模型名称，例如 gpt-4o-mini、deepseek-chat、qwen-plus')),
    base_url: z
      .string()
      .url()
      .optional()
      .describe('Any OpenAI-compatible chat-completions endpoint; default https://api.openai.com/v1')
      .meta(zh('接口地址', '任意兼容 OpenAI 的 chat-completions 接口；默认为 https://api.openai.com/v1')),
    api_key: secret(z.string().min(1).optional())
      .describe('API key; defaults to the OPENAI_API_KEY environment variable')
      .meta(zh('API Key', 'API Key；默认取环境变量 OPENAI_API_KEY')),
    temperature: z.number().min(0).max(2).optional().meta(zh('温度')),
    max_tokens: z.number().int().min(1).max(1_000_000).optional().meta(zh('最大 token 数')),
    images: imagesField,
    files: z
      .boolean()
      .default(false)
      .describe('Pass the files users send (up to 4, 10 MiB each): text files as text, PDFs as file parts (OpenAI\'s format; the model or server must take them); others stay described')
      .meta(zh('传递文件', '传递用户发送的文件（最多 4 个，每个不超过 10 MiB）：文本文件作为文本，PDF 作为文件部分（file part，OpenAI 的格式；模型或服务端必须支持）；其他文件仍只给出描述')),
    markdown_images: z
      .boolean()
      .default(false)
      .describe('Send the images the model links in its answer (![alt](https://…), up to 4) as image messages after the text, on channels that send images; the links leave the text')
      .meta(zh('发送 Markdown 图片', '在能发送图片的渠道上，把模型在回答中链接的图片（![alt](https://…)，最多 4 张）在文字之后作为图片消息发送；这些链接会从文字中移除')),
    stream: z
      .boolean()
      .default(true)
      .describe('Show the reply while the model writes it, where the channel can (WeCom robot, Web API streams, the panel); the reply itself is sent once either way')
      .meta(zh('启用流式回复', '在渠道支持时（企业微信机器人、Web API 流式输出、管理面板），边生成边显示回复；无论开启与否，回复本身都只发送一次')),
  })
  .strict();

export const httpProfileSchema = z
  .object({
    provider: z.literal('http').meta(zh('提供方')),
    ...profileBase,
    url: z
      .string()
      .url()
      .describe('Your agent service; receives a signed POST with the conversation')
      .meta(zh('服务地址', '你的智能体服务；会收到一个带有对话内容、已签名的 POST 请求')),
    secret: secret(z.string().min(16).optional())
      .describe('Shared secret for the X-CocoCat-Signature HMAC-SHA256 header (at least 16 characters)')
      .meta(zh('签名密钥', '用于 X-CocoCat-Signature 请求头（HMAC-SHA256）的共享密钥（至少 16 个字符）')),
    images: imagesField,
    files: z
      .boolean()
      .default(false)
      .describe('Pass the files, voice messages and videos users send to the service (up to 4 per message, 10 MiB each), downloaded, in the POST')
      .meta(zh('传递文件', '把用户发送的文件、语音消息和视频下载后放在 POST 中交给服务（每条消息最多 4 个，每个不超过 10 MiB）')),
    stream: z
      .boolean()
      .default(false)
      .describe('Ask the service for a streamed answer (text/event-stream: delta events, then done) when someone can watch it being written; the service may still answer in one piece')
      .meta(zh('请求流式回答', '当有人能看着回答生成时，向服务请求流式回答（text/event-stream：先是 delta 事件，然后是 done）；服务仍可一次性完整回答')),
  })
  .strict();

export const agentProfileSchema = z.discriminatedUnion('provider', [echoProfileSchema, openaiProfileSchema, httpProfileSchema]);

export type AgentProfile = z.infer<typeof agentProfileSchema>;
export type EchoProfile = z.infer<typeof echoProfileSchema>;
export type OpenAIProfile = z.infer<typeof openaiProfileSchema>;
export type HttpProfile = z.infer<typeof httpProfileSchema>;

// ── scenes/{id}/scene.yaml ──────────────────────────────────────────────────────────────────

export const sceneRouteSchema = z
  .object({
    agent: idSchema.describe('The roster agent that answers the messages this rule fits'),
    channels: z.array(z.string().min(1).max(64)).min(1).max(20).optional().describe('Channel types, e.g. feishu, wecom_bot'),
    entries: z.array(idSchema).min(1).max(50).optional().describe('Entry ids of this scene'),
    chats: z.enum(['direct', 'group']).optional().describe('Direct chats only, or group chats only'),
    users: z.array(z.string().min(1).max(256)).min(1).max(10_000).optional().describe('Senders (platform user ids, as the message log shows them)'),
    groups: z.array(z.string().min(1).max(256)).min(1).max(10_000).optional().describe('Group chats (conversation ids, as the message log shows them)'),
    contains: phraseList.optional().describe('Phrases, any of which the message contains (ignoring case)'),
  })
  .strict()
  .refine((r) => Object.keys(r).some((k) => k !== 'agent'), { message: 'needs a condition: channels, entries, chats, users, groups or contains' });

export type SceneRoute = z.infer<typeof sceneRouteSchema>;

export const sceneSchema = z
  .object({
    name: z.string().min(1).max(200).optional().describe('Display name').meta(zh('名称', '显示名称')),
    roster: z
      .array(idSchema)
      .min(1)
      .describe('Agent ids working in this scene; the first one leads and answers what no route gives another')
      .meta(zh('成员', '在此场景中工作的智能体 ID；第一个为主智能体，负责回答没有路由交给其他智能体的消息')),
    context: z
      .string()
      .max(100_000)
      .default('')
      .describe('Context prompt given to the answering agent for every message of this scene')
      .meta(zh('场景上下文', '处理此场景的每条消息时都交给作答智能体的上下文提示词')),
    routes: z
      .array(sceneRouteSchema)
      .max(100)
      .default([])
      .describe('Which roster agent answers which messages: the first rule whose every condition fits decides; without one that fits, the lead')
      .meta(zh('路由规则', '成员中的哪个智能体回答哪些消息：由第一条所有条件都满足的规则决定；没有满足的规则时，由主智能体回答')),
    notify: agentNotifySchema
      .optional()
      .describe("This scene's team chat: its entries' hand-overs, pairing codes, dead letters and outages are told there too")
      .meta(zh('团队群通知', '此场景的团队群：其接入的转人工、配对码、死信和中断也会通知到这里')),
  })
  .strict()
  .superRefine((scene, ctx) => {
    scene.routes.forEach((r, i) => {
      if (!scene.roster.includes(r.agent)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'agent'], message: `"${r.agent}" is not in the roster` });
    });
  });

export type SceneConfig = z.infer<typeof sceneSchema>;

// ── agents/{id}/entries.json and scenes/{id}/entries.json ───────────────────────────────────

export const entrySchema = z
  .object({
    id: idSchema.optional().describe('Unique within the file; defaults to the channel type'),
    type: z.literal('channel').default('channel'),
    channel: z.string().min(1).describe('Registered channel type, e.g. web_api'),
    enabled: z.boolean().default(true),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const entriesFileSchema = z.object({ entries: z.array(z.unknown()).default([]) }).strict();

export type EntryConfig = z.infer<typeof entrySchema>;

// ── cococat.yaml ────────────────────────────────────────────────────────────────────────────

/** A URL, or a ${ENV} / ${secret:…} reference resolved when it is used. */
/** The health watch's thresholds when the gateway's `notify` does not set them (or is not there: agents' own may be). */
export const HEALTH_DEFAULTS = { entry_down_after_minutes: 3, waiting_after_minutes: 5, agent_down_after_failures: 3 } as const;

export const notifySchema = z
  .object({
    ...notifyReceiver,
    events: notifyReceiver.events.default([...NOTIFY_EVENTS]).describe(
      `${NOTIFY_EVENTS_HELP}; waiting: a message has waited long for its answer, or a reply for its delivery (and when none does)`,
    ),
    entry_down_after_minutes: z
      .number()
      .int()
      .min(1)
      .max(1440)
      .default(HEALTH_DEFAULTS.entry_down_after_minutes)
      .describe('entry_down: how long an entry is in error, or reconnecting to its platform, before the team is told'),
    waiting_after_minutes: z
      .number()
      .int()
      .min(1)
      .max(1440)
      .default(HEALTH_DEFAULTS.waiting_after_minutes)
      .describe('waiting: how long the oldest message may wait for its answer, or the oldest reply for its delivery, before the team is told'),
    agent_down_after_failures: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(HEALTH_DEFAULTS.agent_down_after_failures)
      .describe('agent_down: how many runs of an agent in a row end failed (after its retries) before the team is told'),
  })
  .strict();

export type NotifySettings = z.infer<typeof notifySchema>;

export const settingsSchema = z
  .object({
    server: z
      .object({
        port: z.number().int().min(0).max(65_535).default(8787),
        host: z.string().min(1).default('127.0.0.1'),
        public_url: z.string().url().optional().describe('The address platforms reach this gateway at; shown as webhook URLs'),
      })
      .strict()
      .default({ port: 8787, host: '127.0.0.1' }),
    notify: notifySchema
      .optional()
      .describe('Tell a team chat (or a URL) when something needs a person: hand-overs, pairing requests, dead letters, entries and agents that are down'),
    admin_token: secret(z.string().min(16).optional()).describe(
      'Bearer token of the admin API; COCOCAT_ADMIN_TOKEN overrides it. Generated on first start when unset',
    ),
    operator_tokens: z
      .array(
        z.union([
          z.string().min(1),
          z
            .object({
              name: z.string().trim().min(1).max(64),
              token: z.string().min(1),
              can: z
                .array(z.enum(OPERATOR_PERMISSIONS))
                .refine((can) => new Set(can).size === can.length, 'names a permission twice')
                .optional()
                .describe(
                  'What this operator may do besides reading: reply (answer a message by hand), handoff (hand conversations over and back), pairing (approve or reject codes), senders (block or allow a sender), retry (dead letters and notices), chat (the test chat). All of them when left out; [] reads only',
                ),
            })
            .strict(),
        ]),
      )
      .max(50)
      .optional()
      .describe(
        'Bearer tokens (or panel logins) of operators, who read the message log and answer people (replies, hand-overs, pairing codes, dead letters, blocking or allowing a sender, the test chat) but cannot change agents, scenes, entries or settings. A token, or {name, token, can?} so the message log says who replied and `can` limits what they may do. Each at least 16 characters, best as an ${ENV} reference; removing one ends its panel sessions',
      ),
    store: z
      .object({
        url: z
          .string()
          .default('sqlite:data/cococat.db')
          .describe('sqlite:<path relative to the workspace> or postgres://… (several gateways sharing one database)'),
      })
      .strict()
      .default({ url: 'sqlite:data/cococat.db' }),
    limits: z
      .object({
        concurrency: z.number().int().min(1).max(1_000).default(16).describe('Agent runs in parallel (different conversations)'),
        lease_ms: z.number().int().min(1_000).default(60_000).describe('A claimed message returns to the queue if its worker is silent this long; with several processes, also how long a dead one keeps an exclusive entry (wecom_bot)'),
        max_attempts: z.number().int().min(1).max(100).default(5).describe('Agent runs per message before it is dead-lettered'),
        outbox_max_age_ms: z.number().int().min(1_000).default(3_600_000).describe('A reply not delivered within this time is dead-lettered, never sent late'),
        dedup_retention_hours: z
          .number()
          .min(7)
          .default(168)
          .describe('How long accepted message ids are remembered; longer than any platform retry horizon (Feishu: 6 h)'),
        start_timeout_ms: z.number().int().min(100).default(30_000).describe('A channel that is not ready by then is marked error and retried'),
      })
      .strict()
      .default({
        concurrency: 16,
        lease_ms: 60_000,
        max_attempts: 5,
        outbox_max_age_ms: 3_600_000,
        dedup_retention_hours: 168,
        start_timeout_ms: 30_000,
      }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;
