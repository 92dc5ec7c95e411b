/**
 * Pairing (`access.pairing` in a profile): a stranger who writes to a private agent in a direct chat
 * gets a short code instead of silence; they give it to the agent's owner, who approves it (panel,
 * admin API, `cococat pairing approve`), and from then on they are on `allow_users`. The code tells
 * the owner which platform id is the friend who asked: ids such as `o9cq80…@im.wechat` say nothing.
 * With `groups: true`, a group the agent does not answer yet gets a code of its own when someone
 * addresses the agent there, and approving it puts the group on `allow_groups`.
 *
 * A request lives in the state of the entry it came in on, one per agent and user, stored with the
 * reply that carries its code (one transaction), so every gateway process sharing the store sees
 * it; it ends when approved, rejected or expired, and expired ones are pruned.
 */
import { randomInt } from 'node:crypto';
import type { Pairing } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { forgetStaleState } from './channel-state.js';
import { CocoError } from './errors.js';
import { nameAndId } from './message.js';

const PREFIX = 'pairing:';
/** No 0/O, 1/I/L: a code is read aloud or typed from a phone. 31 characters, 8 of them: about 40 bits. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 8;
/** A stranger who keeps writing gets their code again at most this often (a Web API client, every time). */
export const PAIRING_RESEND_MS = 10 * 60_000;

export interface PairingRequest {
  /** As shown: `ABCD-EFGH`. */
  code: string;
  /** The agent whose `access` the approval edits (a scene's lead agent). */
  agentId: string;
  /** Who asked (in a group, the member who addressed the agent). */
  userId: string;
  userName?: string;
  conversationId: string;
  /** A group's request: approving it lets the whole group (`conversationId`) in. */
  group?: true;
  /** The gateway's id of the message that asked; the approval answers it. */
  messageId: string;
  createdAt: number;
  expiresAt: number;
  /** When the code was last sent to the user. */
  sentAt: number;
}

/** A request with the entry it came in on. */
export type PendingPairing = PairingRequest & { entryKey: string };

/**
 * Who a request lets in: a user, or (`group:` and its id) a group. One open request each, per agent
 * and entry. `group` is a request's, or a message's `isGroup`.
 */
export function pairingKey(r: { userId: string; conversationId: string; group?: boolean }): string {
  return r.group ? `group:${r.conversationId}` : r.userId;
}

export const pairingStateName = (agentId: string, key: string) => `${PREFIX}${agentId}:${key}`;

export function newPairingCode(pick: (n: number) => number = randomInt): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[pick(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * A code as typed (`abcd efgh`, `ABCDEFGH`, `abcd-efgh`) in its shown form; a 400 naming `field`
 * when it cannot be one.
 */
export function normalizePairingCode(input: string, field = 'code'): string {
  const bare = input.toUpperCase().replace(/[\s-]/g, '');
  if (bare.length !== CODE_LENGTH || [...bare].some((c) => !ALPHABET.includes(c))) {
    throw new CocoError('COCO_ERR_REQUEST_INVALID', `${field}: a pairing code is ${CODE_LENGTH} letters and digits, such as ABCD-EFGH`, {
      statusCode: 400,
      field,
    });
  }
  return `${bare.slice(0, 4)}-${bare.slice(4)}`;
}

export type OwnerCommand = { approve: string } | { reject: string } | { list: true };

/** A code as typed: `ABCD-EFGH`, `abcd efgh`, `ABCDEFGH` (letters and digits only, so chat rarely looks like one). */
const TYPED_CODE = String.raw`([a-z0-9]{4}[\s-]?[a-z0-9]{4})`;
/** In English with a space before the code, or in Chinese with or without one (`批准ABCD-EFGH`). */
const APPROVE = new RegExp(String.raw`^\/?(?:approve\s+|(?:批准|同意|通过)\s*)` + TYPED_CODE + '$', 'i');
const REJECT = new RegExp(String.raw`^\/?(?:reject\s+|拒绝\s*)` + TYPED_CODE + '$', 'i');
const LIST = /^\/?(?:pairing|配对|配对请求)$/i;

/** The @mentions a group message starts with ("@CocoCat 批准 …"), as the platforms leave them in its text. */
const LEADING_MENTIONS = /^(?:@\S+\s+)+/;

/**
 * What an owner (`access.owners`) asks of the gateway: `approve CODE` (批准, 同意 or 通过 CODE),
 * `reject CODE` (拒绝 CODE), or, in a direct chat only, `pairing` (配对) for the open requests (a
 * group would see who else asked); each may start with `/`, and in a group after the @mention.
 * Anything else is a message for the agent.
 */
export function ownerCommand(content: string, inGroup = false): OwnerCommand | undefined {
  const text = inGroup ? content.trim().replace(LEADING_MENTIONS, '') : content.trim();
  const approve = APPROVE.exec(text);
  if (approve) return { approve: approve[1]! };
  const reject = REJECT.exec(text);
  if (reject) return { reject: reject[1]! };
  return !inGroup && LIST.test(text) ? { list: true } : undefined;
}

/** Who asked, for an owner's answer: a user, or a group (asked for by one of its members). */
type Asker = { userId: string; userName?: string; group?: true; conversationId?: string };

function who(r: Asker): { en: string; zh: string } {
  const asker = nameAndId(r);
  return r.group ? { en: `group ${r.conversationId} (asked by ${asker})`, zh: `群 ${r.conversationId}（${asker} 申请）` } : { en: asker, zh: asker };
}

/**
 * What the gateway answers an owner's command, in the profile's `language`. The changes made are
 * described as the config has them (`access.allow_users`), in either language.
 */
export const ownerReplies = {
  en: {
    none: 'No open pairing requests.',
    list: (lines: string[]) => `Open pairing requests (reply "approve CODE" or "reject CODE"):\n${lines.join('\n')}`,
    line: (r: PendingPairing) => `${r.code}  ${who(r).en} on ${r.entryKey}, until ${new Date(r.expiresAt).toISOString().slice(11, 16)} UTC`,
    approved: (done: Asker & { entryKey: string; changes: string[]; notified: boolean }) =>
      `Approved ${who(done).en} on ${done.entryKey}: ${done.changes.join('; ') || 'they were allowed already'}${done.notified ? '; told them so' : ''}.`,
    rejected: (done: Asker & { entryKey: string }) => `Rejected ${who(done).en} on ${done.entryKey}; they were not told.`,
    rejectedHere: (code: string) => `Rejected this group's request (${code}).`,
    notThisGroup: (code: string) => `${code} is not this group's code. Approve or reject other requests in a direct chat with me.`,
    unknown: (_code: string, why: string) => why,
  },
  zh: {
    none: '没有待处理的配对请求。',
    list: (lines: string[]) => `待处理的配对请求（回复“批准 验证码”或“拒绝 验证码”）：\n${lines.join('\n')}`,
    line: (r: PendingPairing) => `${r.code}  ${who(r).zh}，入口 ${r.entryKey}，有效至 ${new Date(r.expiresAt).toISOString().slice(11, 16)} UTC`,
    approved: (done: Asker & { entryKey: string; changes: string[]; notified: boolean }) =>
      `已批准 ${who(done).zh}（入口 ${done.entryKey}）：${done.changes.join('；') || '之前已允许'}${done.notified ? '；已通知对方' : ''}。`,
    rejected: (done: Asker & { entryKey: string }) => `已拒绝 ${who(done).zh}（入口 ${done.entryKey}），没有通知对方。`,
    rejectedHere: (code: string) => `已拒绝本群的配对请求（${code}）。`,
    notThisGroup: (code: string) => `${code} 不是本群的配对码。其他请求请在与我的单聊中批准或拒绝。`,
    unknown: (code: string) => `没有验证码为 ${code} 的待处理请求：可能已被批准或拒绝，或已过期。验证码是 8 位字母和数字，例如 ABCD-EFGH。`,
  },
} satisfies Record<'en' | 'zh', unknown>;

/** The profile's `reply` (a group's: `group_reply`) with the code and its lifetime filled in. */
export function pairingReply(settings: Pairing, code: string, group = false): string {
  const template = group ? settings.group_reply : settings.reply;
  return template.replaceAll('{code}', code).replaceAll('{minutes}', String(settings.expires_minutes));
}

function parse(value: string | undefined, now: number): PairingRequest | undefined {
  if (value === undefined) return undefined;
  try {
    const request = JSON.parse(value) as PairingRequest;
    return typeof request.code === 'string' && typeof request.expiresAt === 'number' && request.expiresAt > now ? request : undefined;
  } catch {
    return undefined;
  }
}

/** The open request of a user or a group (`pairingKey`) to the agent on this entry, if one has not expired. */
export async function openPairing(store: Pick<Store, 'getChannelState'>, entryKey: string, agentId: string, key: string, now: number): Promise<PairingRequest | undefined> {
  return parse(await store.getChannelState(entryKey, pairingStateName(agentId, key)), now);
}

/** Every open request (of one agent, with `agentId`), oldest first. */
export async function pendingPairings(store: Pick<Store, 'listChannelState'>, now: number, agentId?: string): Promise<PendingPairing[]> {
  const rows = await store.listChannelState(agentId === undefined ? PREFIX : `${PREFIX}${agentId}:`);
  const open: PendingPairing[] = [];
  for (const row of rows) {
    const request = parse(row.value, now);
    if (request) open.push({ ...request, entryKey: row.entryKey });
  }
  return open.sort((a, b) => a.createdAt - b.createdAt);
}

/** The open request with this code (normalized), or a 404 that says codes expire. */
export async function pairingByCode(store: Pick<Store, 'listChannelState'>, code: string, now: number, agentId?: string): Promise<PendingPairing> {
  // With `agentId` (an owner in a chat), another agent's request is as unknown as none.
  const found = (await pendingPairings(store, now, agentId)).find((r) => r.code === code);
  if (!found) {
    throw new CocoError('COCO_ERR_NOT_FOUND', `no open pairing request has the code ${code}: it was approved or rejected already, or it expired`, {
      statusCode: 404,
    });
  }
  return found;
}

/**
 * Ends the request of a user or a group to the agent on an entry (approved, rejected, or let in some
 * other way); with `code`, only that request. False when there was none.
 */
export async function closePairing(
  store: Pick<Store, 'getChannelState' | 'deleteChannelState'>,
  request: Pick<PendingPairing, 'entryKey' | 'agentId' | 'userId' | 'conversationId'> & { group?: boolean; code?: string },
): Promise<boolean> {
  const name = pairingStateName(request.agentId, pairingKey(request));
  const value = await store.getChannelState(request.entryKey, name);
  if (value === undefined || (request.code !== undefined && parse(value, -Infinity)?.code !== request.code)) return false;
  return store.deleteChannelState(request.entryKey, name, value);
}

/** Deletes the expired requests. Returns how many went. */
export function forgetExpiredPairings(store: Pick<Store, 'listChannelState' | 'deleteChannelState'>, now: number): Promise<number> {
  return forgetStaleState(store, PREFIX, (value) => parse(value, now) === undefined);
}

/**
 * What to do with a stranger's message: send a code (of a new request, `fresh`, or the open one's
 * again), or nothing pairing-wise (`full`: too many requests wait; `quiet`: the code was sent a moment ago).
 */
export function pairingStep(
  settings: Pairing,
  o: { open: PairingRequest | undefined; pending: number; now: number; alwaysAnswer: boolean; newRequest: () => Omit<PairingRequest, 'code' | 'createdAt' | 'expiresAt' | 'sentAt'> },
): { send: PairingRequest; fresh: boolean } | { full: true } | { quiet: PairingRequest } {
  const { open, now } = o;
  if (open) return o.alwaysAnswer || now - open.sentAt >= PAIRING_RESEND_MS ? { send: { ...open, sentAt: now }, fresh: false } : { quiet: open };
  if (o.pending >= settings.max_pending) return { full: true };
  const send = { ...o.newRequest(), code: newPairingCode(), createdAt: now, expiresAt: now + settings.expires_minutes * 60_000, sentAt: now };
  return { send, fresh: true };
}
