/**
 * Keyword replies (`keyword_replies` in an agent's profile): fixed answers to given messages,
 * phrases or menu clicks, sent at once without the agent. The questions a business answers the
 * same way every time (opening hours, the refund link) cost no model call and no wait, and a
 * WeChat Official Account keeps the keyword replies its platform turns off in developer mode.
 */
import type { KeywordReply } from '../config/schema.js';
import { fitsPattern } from './keyword-patterns.js';
import type { ChatMessage } from './message.js';

/** The first rule that fits `message`, with its place in the list; undefined when none does. */
export function keywordReply(rules: readonly KeywordReply[] | undefined, message: Pick<ChatMessage, 'content' | 'msgType'>): { rule: KeywordReply; index: number } | undefined {
  if (!rules) return undefined;
  const index = rules.findIndex((rule) => fits(rule, message));
  return index < 0 ? undefined : { rule: rules[index]!, index };
}

function fits(rule: KeywordReply, message: Pick<ChatMessage, 'content' | 'msgType'>): boolean {
  if (message.msgType === 'event') {
    // Channels that forward events name them "[event <name> <key>]" (wechat_mp, wecom).
    const event = /^\[event (.+)\]$/.exec(message.content.trim())?.[1]?.toLowerCase();
    return event !== undefined && (rule.events ?? []).some((e) => e.toLowerCase() === event);
  }
  // Words a user wrote or said (a voice message's transcript, where the platform sends one).
  if (message.msgType !== 'text' && message.msgType !== 'voice') return false;
  const text = message.content.trim().toLowerCase();
  return (
    (rule.match ?? []).some((m) => m.toLowerCase() === text) ||
    (rule.contains ?? []).some((phrase) => text.includes(phrase.toLowerCase())) ||
    (rule.patterns !== undefined && fitsPattern(rule.patterns, message.content.trim()))
  );
}
