import { describe, expect, it } from 'vitest';
import { accessRefusal } from '../../src/core/access.js';
import { pairingSchema } from '../../src/config/schema.js';

const direct = (userId: string) => ({ userId, conversationId: userId, isGroup: false });
const inGroup = (userId: string, conversationId: string) => ({ userId, conversationId, isGroup: true });

describe('accessRefusal', () => {
  it('lets everyone through without access, and checks direct chats against allow_users, groups against allow_groups', () => {
    expect(accessRefusal(undefined, direct('anyone'))).toBeUndefined();
    const access = { allow_users: ['ann'], allow_groups: ['team'] };
    expect(accessRefusal(access, direct('ann'))).toBeUndefined();
    expect(accessRefusal(access, direct('bob'))).toEqual({ why: 'user bob is not in allow_users', blocked: false });
    // In an allowed group anyone may ask; allow_users is about direct chats.
    expect(accessRefusal(access, inGroup('bob', 'team'))).toBeUndefined();
    expect(accessRefusal(access, inGroup('ann', 'other'))).toEqual({ why: 'group other is not in allow_groups', blocked: false });
    expect(accessRefusal({ allow_users: ['ann'] }, inGroup('bob', 'any'))).toBeUndefined();
  });

  it('refuses a blocked user everywhere, even one on an allow list', () => {
    const access = { allow_users: ['eve'], allow_groups: ['team'], block_users: ['eve'] };
    expect(accessRefusal(access, direct('eve'))).toEqual({ why: 'user eve is blocked', blocked: true });
    expect(accessRefusal(access, inGroup('eve', 'team'))).toEqual({ why: 'user eve is blocked', blocked: true });
  });

  it('with pairing, refuses strangers in direct chats even without allow_users, and leaves groups to allow_groups unless it pairs groups too', () => {
    const pairing = pairingSchema.parse({ reply: '{code}', approved_reply: 'ok' });
    expect(accessRefusal({ pairing }, direct('bob'))).toEqual({ why: 'user bob is not in allow_users', blocked: false });
    expect(accessRefusal({ pairing, allow_users: ['bob'] }, direct('bob'))).toBeUndefined();
    expect(accessRefusal({ pairing }, inGroup('bob', 'team'))).toBeUndefined();
    // With groups: true, groups are closed until approved, even without allow_groups.
    const groups = { ...pairing, groups: true };
    expect(accessRefusal({ pairing: groups }, inGroup('bob', 'team'))).toEqual({ why: 'group team is not in allow_groups', blocked: false });
    expect(accessRefusal({ pairing: groups, allow_groups: ['team'] }, inGroup('bob', 'team'))).toBeUndefined();
    // Owners are always answered, even blocked by mistake.
    expect(accessRefusal({ pairing, owners: ['olivia'], block_users: ['olivia'] }, direct('olivia'))).toBeUndefined();
  });
});
