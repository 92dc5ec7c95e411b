/**
 * Who an agent answers (`access` in its profile): a private assistant answers its people, a team
 * bot its groups, and nobody answers a blocked user. Checked when a message is processed, as user
 * limits are: the platform's delivery is acknowledged and stored as any other, and the message log
 * shows who was refused and why.
 */
import type { Access } from '../config/schema.js';
import type { ChatMessage } from './message.js';

/** Why `access` refuses the sender of `message` (and whether they are blocked), or undefined when the agent may answer. */
export function accessRefusal(
  access: Access | undefined,
  message: Pick<ChatMessage, 'userId' | 'conversationId' | 'isGroup'>,
): { why: string; blocked: boolean } | undefined {
  if (!access || access.owners?.includes(message.userId)) return undefined;
  if (access.block_users?.includes(message.userId)) return { why: `user ${message.userId} is blocked`, blocked: true };
  if (message.isGroup) {
    // With group pairing, groups are for approved ones only, even before any is approved.
    if ((access.allow_groups || access.pairing?.groups) && !access.allow_groups?.includes(message.conversationId)) {
      return { why: `group ${message.conversationId} is not in allow_groups`, blocked: false };
    }
  } else if ((access.allow_users || access.pairing) && !access.allow_users?.includes(message.userId)) {
    // With pairing, direct chats are for approved users only, even before anyone is approved.
    return { why: `user ${message.userId} is not in allow_users`, blocked: false };
  }
  return undefined;
}
