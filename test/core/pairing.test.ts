import { describe, expect, it } from 'vitest';
import { pairingSchema } from '../../src/config/schema.js';
import { newPairingCode, normalizePairingCode, ownerCommand, ownerReplies, PAIRING_RESEND_MS, pairingReply, pairingStep } from '../../src/core/pairing.js';

const settings = pairingSchema.parse({ reply: 'Code {code}, {minutes} min; again: {code}', group_reply: 'Group code {code}', approved_reply: 'ok', expires_minutes: 30, max_pending: 2 });
const asker = () => ({ agentId: 'a', userId: 'bob', conversationId: 'bob', messageId: '7' });

describe('pairing codes', () => {
  it('are 8 characters without look-alikes, shown as XXXX-XXXX, and read back however they are typed', () => {
    const codes = Array.from({ length: 200 }, () => newPairingCode());
    for (const code of codes) expect(code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
    expect(new Set(codes).size).toBe(200);
    let i = 0;
    expect(newPairingCode(() => i++)).toBe('ABCD-EFGH');
    expect(normalizePairingCode(' abcd efgh ')).toBe('ABCD-EFGH');
    expect(normalizePairingCode('abcdefgh')).toBe('ABCD-EFGH');
    expect(() => normalizePairingCode('ABCD-EFG0')).toThrow('code: a pairing code is 8 letters and digits');
    expect(() => normalizePairingCode('ABCD-EFGHJ', 'CODE')).toThrow(/^CODE: /);
  });

  it('fill every {code} and {minutes} of the reply', () => {
    expect(pairingReply(settings, 'ABCD-EFGH')).toBe('Code ABCD-EFGH, 30 min; again: ABCD-EFGH');
    expect(pairingReply(settings, 'ABCD-EFGH', true)).toBe('Group code ABCD-EFGH');
  });
});

describe('pairingStep', () => {
  const now = 1_000_000_000;
  it('opens a request with a code that expires, unless max_pending wait already', () => {
    const step = pairingStep(settings, { open: undefined, pending: 1, now, alwaysAnswer: false, newRequest: asker });
    expect(step).toMatchObject({ send: { ...asker(), createdAt: now, sentAt: now, expiresAt: now + 30 * 60_000 }, fresh: true });
    expect(pairingStep(settings, { open: undefined, pending: 2, now, alwaysAnswer: false, newRequest: asker })).toEqual({ full: true });
  });

  it('sends an open request\'s code again only after the resend interval, or every time to a client that waits for an answer', () => {
    const open = { ...asker(), code: 'ABCD-EFGH', createdAt: now, expiresAt: now + 1_800_000, sentAt: now };
    expect(pairingStep(settings, { open, pending: 9, now: now + PAIRING_RESEND_MS - 1, alwaysAnswer: false, newRequest: asker })).toEqual({ quiet: open });
    expect(pairingStep(settings, { open, pending: 9, now: now + 1, alwaysAnswer: true, newRequest: asker })).toEqual({ send: { ...open, sentAt: now + 1 }, fresh: false });
    expect(pairingStep(settings, { open, pending: 9, now: now + PAIRING_RESEND_MS, alwaysAnswer: false, newRequest: asker })).toEqual({
      send: { ...open, sentAt: now + PAIRING_RESEND_MS },
      fresh: false,
    });
  });
});

describe('ownerCommand', () => {
  it('reads "approve CODE" and "pairing", with or without a slash, in any case; anything else is for the agent', () => {
    expect(ownerCommand(' approve abcd-efgh ')).toEqual({ approve: 'abcd-efgh' });
    expect(ownerCommand('/APPROVE ABCD EFGH')).toEqual({ approve: 'ABCD EFGH' });
    expect(ownerCommand('approve ABCDEFGH')).toEqual({ approve: 'ABCDEFGH' });
    expect(ownerCommand('/pairing')).toEqual({ list: true });
    expect(ownerCommand('Pairing')).toEqual({ list: true });
    expect(ownerCommand('please approve ABCD-EFGH')).toBeUndefined();
    expect(ownerCommand('approve')).toBeUndefined();
    expect(ownerCommand('pairing codes?')).toBeUndefined();
  });

  it('reads "reject CODE", and the Chinese words with or without a space; a code is letters and digits only', () => {
    expect(ownerCommand('reject ABCD-EFGH')).toEqual({ reject: 'ABCD-EFGH' });
    expect(ownerCommand('/Reject abcd efgh')).toEqual({ reject: 'abcd efgh' });
    expect(ownerCommand('批准ABCD-EFGH')).toEqual({ approve: 'ABCD-EFGH' });
    expect(ownerCommand('同意 abcdefgh')).toEqual({ approve: 'abcdefgh' });
    expect(ownerCommand('通过 ABCD EFGH')).toEqual({ approve: 'ABCD EFGH' });
    expect(ownerCommand('拒绝 ABCD-EFGH')).toEqual({ reject: 'ABCD-EFGH' });
    expect(ownerCommand('配对')).toEqual({ list: true });
    expect(ownerCommand('/配对请求')).toEqual({ list: true });
    // Everyday Chinese that starts with the same words stays the agent's.
    expect(ownerCommand('同意你的看法好的好的')).toBeUndefined();
    expect(ownerCommand('拒绝这个无理的要求吧')).toBeUndefined();
    expect(ownerCommand('approveABCD-EFGH')).toBeUndefined();
    expect(ownerCommand('reject')).toBeUndefined();
  });

  it('reads an approval or a rejection in a group after the @mention, but not the list, which would show the group who else asked', () => {
    expect(ownerCommand('@CocoCat 批准 ABCD-EFGH', true)).toEqual({ approve: 'ABCD-EFGH' });
    expect(ownerCommand('@CocoCat  @bot reject abcd efgh', true)).toEqual({ reject: 'abcd efgh' });
    expect(ownerCommand('approve ABCD-EFGH', true)).toEqual({ approve: 'ABCD-EFGH' });
    expect(ownerCommand('@CocoCat 配对', true)).toBeUndefined();
    expect(ownerCommand('pairing', true)).toBeUndefined();
    // Outside a group the mention is not stripped: a direct chat has none.
    expect(ownerCommand('@CocoCat 批准 ABCD-EFGH')).toBeUndefined();
  });
});

describe('owners\' answers', () => {
  it('name a group\'s request as the group, asked for by its member, in either language', () => {
    const done = { userId: 'ou_ann', userName: 'Ann', group: true as const, conversationId: 'oc_team', entryKey: 'desk.feishu', changes: ['added oc_team to allow_groups'], notified: true };
    expect(ownerReplies.en.approved(done)).toBe('Approved group oc_team (asked by Ann (ou_ann)) on desk.feishu: added oc_team to allow_groups; told them so.');
    expect(ownerReplies.zh.rejected(done)).toBe('已拒绝 群 oc_team（Ann (ou_ann) 申请）（入口 desk.feishu），没有通知对方。');
    expect(ownerReplies.en.rejected({ userId: 'ou_bob', entryKey: 'desk.feishu' })).toBe('Rejected ou_bob on desk.feishu; they were not told.');
  });
});

