/**
 * Approving or rejecting a stranger's pairing code (core/pairing.ts). Approvals come from the admin
 * API (panel, `cococat pairing approve`) or a direct chat with the agent (`access.owners`). The user
 * (a group's request: the group) goes onto `allow_users` (`allow_groups`) first and the request ends
 * second, so a message sent meanwhile is answered, not given the code again; then they are told, as
 * an operator's reply to the message that asked.
 */
import { allowSender, type WorkspaceEditor } from '../config/access-edits.js';
import type { AgentProfile } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { closePairing, normalizePairingCode, pairingByCode, type PendingPairing } from '../core/pairing.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { queueLateReply, type ReplyHost } from './late-replies.js';

/** What an approval needs of the gateway (the Gateway has all of it). */
export interface PairingHost extends ReplyHost, WorkspaceEditor {
  snapshot: ReplyHost['snapshot'] & { agents: ReadonlyMap<string, { profile: Pick<AgentProfile, 'access'> }> };
  metrics: Pick<GatewayMetrics, 'pairing'>;
  log: Logger;
}

export interface ApprovedPairing {
  code: string;
  agentId: string;
  entryKey: string;
  /** Who asked (in a group, the member who addressed the agent). */
  userId: string;
  userName?: string;
  /** A group's request: the group (`conversationId`) was let in. */
  group?: true;
  conversationId?: string;
  /** What changed in the agent's access (empty: the user or group was allowed already). */
  changes: string[];
  /** Whether the user was told (their message is still stored, and the profile has an approved_reply). */
  notified: boolean;
}

/**
 * Approves the open request with this code (as typed); a 400 for what cannot be a code, a 404 for one
 * not open. With `agentId` (an owner of that agent, in a chat), only that agent's requests.
 */
export async function approvePairing(host: PairingHost, typed: string, agentId?: string): Promise<ApprovedPairing> {
  const r = await openRequest(host, typed, agentId);
  // A group's request lets the group in (allow_groups), a user's the user (allow_users).
  const changes = allowSender(host, r.agentId, { userId: r.userId, conversationId: r.conversationId, isGroup: r.group === true });
  await closePairing(host.store, r);
  const asked = await host.store.getMessage(r.messageId);
  const settings = host.snapshot.agents.get(r.agentId)?.profile.access?.pairing;
  const approvedReply = r.group ? settings?.group_approved_reply : settings?.approved_reply;
  // Sent as the operator's reply to the message that asked: the platform's reply window applies.
  const notified = asked !== undefined && approvedReply !== undefined;
  if (notified) await queueLateReply(host, asked, { text: approvedReply, format: 'text' }, 'operator', `pairing-${r.code}`);
  host.metrics.pairing.inc({ channel: asked?.channelType ?? 'unknown', event: 'approved' });
  host.log.info({ entry: r.entryKey, agent: r.agentId, messageId: r.messageId, notified }, 'pairing request approved');
  const group = r.group ? { group: true as const, conversationId: r.conversationId } : {};
  return { code: r.code, agentId: r.agentId, entryKey: r.entryKey, userId: r.userId, ...(r.userName ? { userName: r.userName } : {}), ...group, changes, notified };
}

/** Ends the open request with this code without letting the user in (they are not told); errors as approvePairing. */
export async function rejectPairing(host: PairingHost, typed: string, agentId?: string): Promise<PendingPairing> {
  const r = await openRequest(host, typed, agentId);
  await closePairing(host.store, r);
  const channel = (await host.store.getMessage(r.messageId))?.channelType ?? 'unknown';
  host.metrics.pairing.inc({ channel, event: 'rejected' });
  host.log.info({ entry: r.entryKey, agent: r.agentId, messageId: r.messageId }, 'pairing request rejected');
  return r;
}

/** The open request with this code, as typed: a 400 for what cannot be a code, a 404 for one not open. */
function openRequest(host: Pick<PairingHost, 'store' | 'clock'>, typed: string, agentId?: string): Promise<PendingPairing> {
  return pairingByCode(host.store, normalizePairingCode(typed), host.clock.now(), agentId);
}
