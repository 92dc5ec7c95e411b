/**
 * What notices say (ops/notifier.ts), in each language `notify.language` may ask for: a team in
 * China reads its WeCom or Feishu group in Chinese. Each text is made where its event happens, in
 * every language at once; the notifier sends the one the team's settings name when it goes out.
 */
import { nameAndId } from '../core/message.js';

export const NOTICE_LANGUAGES = ['en', 'zh'] as const;
export type NoticeLanguage = (typeof NOTICE_LANGUAGES)[number];
export type Localized = Record<NoticeLanguage, string>;

/** The same words in every language (ids, names, errors from platforms). */
const same = (text: string): Localized => ({ en: text, zh: text });

/** Who wrote, as a notice names them: name and id, and the group they wrote in. */
export function senderName(sender: { userId: string; userName?: string; isGroup: boolean; conversationId: string }): Localized {
  const who = nameAndId(sender);
  return sender.isGroup ? { en: `${who} in group ${sender.conversationId}`, zh: `群 ${sender.conversationId} 中的 ${who}` } : same(who);
}

/** An entry as a notice names it: key, channel, and the agent or scene it feeds. */
export interface EntryNamed {
  key: string;
  channelName: string;
  target: { kind: 'agent' | 'scene'; id: string };
}

const entryName = (e: EntryNamed): Localized => ({
  en: `Entry ${e.key} (${e.channelName}, for ${e.target.kind} ${e.target.id})`,
  zh: `入口 ${e.key}（${e.channelName}，${e.target.kind === 'agent' ? '智能体' : '场景'} ${e.target.id}）`,
});

export const noticeText = {
  askedForPerson: (sender: Localized, entryKey: string): Localized => ({
    en: `${sender.en} asked for a person on ${entryKey}`,
    zh: `${sender.zh} 在 ${entryKey} 请求人工客服`,
  }),
  agentHandedOver: (agentId: string, sender: Localized, entryKey: string): Localized => ({
    en: `Agent ${agentId} handed ${sender.en} on ${entryKey} to a person`,
    zh: `智能体 ${agentId} 把 ${entryKey} 上的 ${sender.zh} 转给了人工`,
  }),
  /** `sender` names the group (senderName): the request is the group's. */
  groupPairing: (sender: Localized, agentId: string, entryKey: string, code: string): Localized => ({
    en: `${sender.en} asks for the group to talk to agent ${agentId} on ${entryKey} with the code ${code} (cococat pairing approve ${code})`,
    zh: `${sender.zh} 在 ${entryKey} 请求让本群与智能体 ${agentId} 对话，配对码 ${code}（cococat pairing approve ${code}）`,
  }),
  pairing: (sender: Localized, agentId: string, entryKey: string, code: string): Localized => ({
    en: `${sender.en} asks to talk to agent ${agentId} on ${entryKey} with the code ${code} (cococat pairing approve ${code})`,
    zh: `${sender.zh} 在 ${entryKey} 请求与智能体 ${agentId} 对话，配对码 ${code}（cococat pairing approve ${code}）`,
  }),
  messageDead: (sender: Localized, entryKey: string, error: string, attempts?: number): Localized => ({
    en: `A message from ${sender.en} on ${entryKey} is a dead letter${attempts === undefined ? '' : ` after ${attempts} attempt(s)`}: ${error}`,
    zh: `${entryKey} 上 ${sender.zh} 的一条消息${attempts === undefined ? '' : `试了 ${attempts} 次，`}已成为死信：${error}`,
  }),
  replyDead: (userId: string, entryKey: string, error: string): Localized => ({
    en: `A reply to ${userId} on ${entryKey} was not delivered and is a dead letter: ${error}`,
    zh: `发给 ${entryKey} 上 ${userId} 的回复未能送达，已成为死信：${error}`,
  }),
  entryDown: (entry: EntryNamed, reason: string, downMs: number): Localized => ({
    en: `${entryName(entry).en} is down: ${reason}. It has been for ${duration(downMs).en}; its users get no answers until it is back.`,
    zh: `${entryName(entry).zh}已中断：${reason}。已持续 ${duration(downMs).zh}，恢复之前它的用户收不到回复。`,
  }),
  entryUp: (entry: EntryNamed, downMs: number): Localized => ({
    en: `${entryName(entry).en} works again, after ${duration(downMs).en} down.`,
    zh: `${entryName(entry).zh}已恢复，中断了 ${duration(downMs).zh}。`,
  }),
  agentDown: (agentId: string, failures: number, sinceMs: number, reason: string): Localized => ({
    en: `Agent ${agentId} failed ${failures} run(s) in a row (the first ${duration(sinceMs).en} ago): ${reason}. Its users get the fallback reply, or a failover agent's answer where one is set.`,
    zh: `智能体 ${agentId} 连续 ${failures} 次运行失败（第一次在 ${duration(sinceMs).zh}前）：${reason}。它的用户收到兜底回复，设了备用智能体的由备用智能体回答。`,
  }),
  agentUp: (agentId: string, failures: number, overMs: number): Localized => ({
    en: `Agent ${agentId} answers again, after ${failures} failed run(s) in ${duration(overMs).en}.`,
    zh: `智能体 ${agentId} 已恢复回答，此前 ${duration(overMs).zh}内失败 ${failures} 次。`,
  }),
  messagesWait: (oldestMs: number, count: number): Localized => ({
    en: `Messages wait for their answer: the oldest arrived ${duration(oldestMs).en} ago; ${count} not answered yet. The agents are slow or failing, or the gateway is overloaded.`,
    zh: `有消息在等待回复：最早的一条是 ${duration(oldestMs).zh}前收到的，共 ${count} 条还没有回复。智能体可能变慢或出错，或网关负载过高。`,
  }),
  repliesWait: (oldestMs: number, count: number): Localized => ({
    en: `Replies wait for delivery: the oldest was written ${duration(oldestMs).en} ago; ${count} not delivered yet. A platform refuses or limits them; see the dashboard.`,
    zh: `有回复在等待发送：最早的一条是 ${duration(oldestMs).zh}前生成的，共 ${count} 条还没有送达。平台可能拒收或限流，请查看仪表盘。`,
  }),
  waitingOver: (what: 'inbound' | 'outbound', overMs: number): Localized =>
    what === 'inbound'
      ? { en: `Messages are answered in time again, after ${duration(overMs).en}.`, zh: `消息已恢复及时回复，此前持续 ${duration(overMs).zh}。` }
      : { en: `Replies are delivered in time again, after ${duration(overMs).en}.`, zh: `回复已恢复及时送达，此前持续 ${duration(overMs).zh}。` },
  /** A notice about a message, with the start of what it says. */
  quoting: (text: Localized, words: string): Localized => ({ en: `${text.en}: "${words}"`, zh: `${text.zh}：“${words}”` }),
  /** Dead letters of one entry folded into one notice. */
  more: (count: number, entryKey: string): Localized => ({ en: `(and ${count} more like it on ${entryKey})`, zh: `（${entryKey} 上还有 ${count} 条同类）` }),
};

/** "4 min", "2 h 5 min", "3 d 1 h" (4 分钟, 2 小时 5 分钟, 3 天 1 小时): for people reading a chat. */
export function duration(ms: number): Localized {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  const parts = (units: [number, string, string][]) => {
    const shown = units.filter(([n], i) => n > 0 || (i === units.length - 1 && units.every(([m]) => m === 0)));
    return { en: shown.map(([n, en]) => `${n} ${en}`).join(' '), zh: shown.map(([n, , zh]) => `${n} ${zh}`).join(' ') };
  };
  if (minutes < 60) return parts([[minutes, 'min', '分钟']]);
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return parts([[hours, 'h', '小时'], [minutes % 60, 'min', '分钟']]);
  return parts([[Math.floor(hours / 24), 'd', '天'], [hours % 24, 'h', '小时']]);
}
