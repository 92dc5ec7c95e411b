import { describe, expect, it } from 'vitest';
import { keywordReplySchema } from '../../src/config/schema.js';
import { keywordReply } from '../../src/core/keyword-replies.js';
import type { MessageType } from '../../src/core/message.js';

const rules = [
  { match: ['Hours'], reply: 'A' },
  { contains: ['refund'], reply: 'B' },
  { events: ['click HOURS', 'subscribe'], reply: 'C' },
  { match: ['refund please'], reply: 'never: the rule before it fits first' },
].map((r) => keywordReplySchema.parse(r));
const m = (content: string, msgType: MessageType = 'text') => ({ content, msgType });
const answer = (content: string, msgType?: MessageType) => keywordReply(rules, m(content, msgType))?.rule.reply;

describe('keywordReply', () => {
  it('fits a whole message or a phrase in it, ignoring case and surrounding spaces; the first rule that fits wins', () => {
    expect(answer(' hours ')).toBe('A');
    expect(answer('hours?')).toBeUndefined();
    expect(answer('I want a REFUND now')).toBe('B');
    expect(answer('refund please')).toBe('B');
    expect(keywordReply(rules, m('refund please'))?.index).toBe(1);
  });

  it('reads a voice message\'s transcript, and nothing into an image or a file', () => {
    expect(answer('hours', 'voice')).toBe('A');
    expect(answer('[image]', 'image')).toBeUndefined();
    expect(answer('refund.pdf', 'file')).toBeUndefined();
  });

  it('fits forwarded events by name and key, never by their text as words', () => {
    expect(answer('[event click HOURS]', 'event')).toBe('C');
    expect(answer('[event CLICK hours]', 'event')).toBe('C');
    expect(answer('[event subscribe]', 'event')).toBe('C');
    expect(answer('[event click REFUND]', 'event')).toBeUndefined();
    expect(answer('[event click HOURS]')).toBeUndefined();
    expect(keywordReply(undefined, m('hours'))).toBeUndefined();
  });

  it('fits regular expressions anywhere in the message, ignoring case, reading the first 2 000 characters', () => {
    const patterned = [keywordReplySchema.parse({ patterns: ['^(退款|退货)', 'order\\s*#?\\d{6}\\b'], reply: 'P' })];
    const fit = (content: string) => keywordReply(patterned, m(content))?.rule.reply;
    expect(fit('退货怎么办')).toBe('P');
    expect(fit('我想退货')).toBeUndefined();
    expect(fit('where is ORDER #123456?')).toBe('P');
    expect(fit('where is order 12345?')).toBeUndefined();
    expect(fit(`${'x'.repeat(2_000)} order 123456`)).toBeUndefined();
  });

  it('refuses a pattern that does not compile, or that nests repetition, naming it', () => {
    const issues = (patterns: string[]) => keywordReplySchema.safeParse({ patterns, reply: 'x' }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues(['(unclosed'])?.[0]).toMatch(/^patterns\.0: is not a valid regular expression: /);
    expect(issues(['ok', '(a+)+$'])).toEqual(['patterns.1: has nested repetition such as (a+)+, which can take exponential time: write it without']);
    expect(issues(['^hello'])).toBeUndefined();
  });
});
