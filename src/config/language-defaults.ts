/**
 * A profile's `language`: the texts CocoCat sends by itself (the fallback reply, the notices and
 * replies of user limits, pairing, resets, hand-overs and filtered words) default to English in the
 * schema; with `language: zh` the ones the profile leaves unset are these instead. Set texts are
 * never touched.
 */
import type { AgentProfile } from './schema.js';

/** Path of a text in a profile, and its Chinese default. */
const ZH: readonly [path: readonly string[], text: string][] = [
  [['fallback_reply'], '抱歉，我现在无法回答，请稍后再试。'],
  [['user_limit', 'notice'], '你发送的消息有点多，我暂时无法回复，请稍后再试。'],
  [['access', 'pairing', 'reply'], '这个助手只回复主人批准的人。如需使用，请把验证码 {code} 发给主人（{minutes} 分钟内有效）。'],
  [['access', 'pairing', 'approved_reply'], '你已通过验证，请再发一次你的消息。'],
  [['access', 'pairing', 'group_reply'], '这个助手只在主人批准的群里回复。如需在本群使用，请把验证码 {code} 发给主人（{minutes} 分钟内有效）。'],
  [['access', 'pairing', 'group_approved_reply'], '本群已通过验证，请再 @我 提问。'],
  [['reset', 'reply'], '好的，我们重新开始。'],
  [['handoff', 'reply'], '好的，稍后会有工作人员在这里回复你。'],
  [['handoff', 'hours', 'closed_reply'], '人工客服现在不在线，我先继续为你服务。'],
  [['content_filter', 'reply'], '抱歉，这个问题我无法回答。'],
];

/** `profile` (parsed from `raw`) with the defaults of its language for the texts `raw` leaves unset. */
export function withLanguageDefaults<P extends AgentProfile>(raw: unknown, profile: P): P {
  if (profile.language !== 'zh') return profile;
  const out = structuredClone(profile);
  for (const [path, text] of ZH) {
    const parent = valueAt(out, path.slice(0, -1));
    // Only where the section is on (it is in the parsed profile) and the text was left to its default.
    if (typeof parent === 'object' && parent !== null && valueAt(raw, path) === undefined) (parent as Record<string, unknown>)[path.at(-1)!] = text;
  }
  return out;
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}
