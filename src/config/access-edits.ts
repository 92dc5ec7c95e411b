/**
 * Edits of an agent's `access` that operators make from a message (block or allow its sender) or
 * by approving a pairing code: the profile file is rewritten with only `access` changed, validated
 * as any edit, and the workspace reloaded, so the next message already sees it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../core/errors.js';
import type { ChatMessage } from '../core/message.js';
import { agentProfileSchema, type Access } from './schema.js';
import type { SecretVault } from './secrets.js';
import { readRaw, targetDir, targetFile, validateWithPending, writeYaml } from './workspace-writer.js';

/** The workspace as these edits need it (the Gateway is one). */
export interface WorkspaceEditor {
  root: string;
  env: Record<string, string | undefined>;
  vault: SecretVault;
  /** Applies the files as they are now. */
  reload(): unknown;
}

/**
 * Adds a user to an agent's `access.block_users` (the operator's "block sender"), keeping everything
 * else in its profile as written. False when the user was blocked already.
 */
export function blockUser(workspace: WorkspaceEditor, agentId: string, userId: string): boolean {
  return editAccess(workspace, agentId, (access) => {
    if (access.block_users?.includes(userId)) return undefined;
    return { ...access, block_users: [...(access.block_users ?? []), userId] };
  });
}

/**
 * Lets the agent answer a sender it refuses (the operator's "allow sender"): takes the user off
 * `block_users` and, where the chat's kind has an allow list (`allow_users` for a direct chat,
 * `allow_groups` for a group), puts the user or the group on it. A chat kind without an allow list
 * is open to everyone already, and gets none: adding one would shut everyone else out; but with
 * pairing, direct chats are closed without one, and `allow_users` is started. Returns what changed,
 * nothing when the agent answered the sender already.
 */
export function allowSender(workspace: WorkspaceEditor, agentId: string, sender: Pick<ChatMessage, 'userId' | 'conversationId' | 'isGroup'>): string[] {
  const changes: string[] = [];
  editAccess(workspace, agentId, (access) => {
    const next = { ...access };
    if (access.block_users?.includes(sender.userId)) {
      next.block_users = access.block_users.filter((u) => u !== sender.userId);
      changes.push(`took ${sender.userId} off block_users`);
    }
    const [field, id] = sender.isGroup ? (['allow_groups', sender.conversationId] as const) : (['allow_users', sender.userId] as const);
    // A list pairing closes even while it is missing starts with this one.
    const closed = field === 'allow_users' ? access.pairing !== undefined : access.pairing?.groups === true;
    const list = access[field] ?? (closed ? [] : undefined);
    if (list && !list.includes(id)) {
      next[field] = [...list, id];
      changes.push(`added ${id} to ${field}`);
    }
    return changes.length > 0 ? next : undefined;
  });
  return changes;
}

/**
 * Rewrites an agent's `access` with `change` (undefined: nothing to change), validated as any edit,
 * keeping the rest of its profile file as written, and reloads. True when it wrote.
 */
function editAccess(workspace: WorkspaceEditor, agentId: string, change: (access: Access) => Access | undefined): boolean {
  const file = join(targetDir(workspace.root, 'agent', agentId), targetFile('agent'));
  if (!existsSync(file)) throw new CocoError('COCO_ERR_NOT_FOUND', `agent "${agentId}" does not exist`, { statusCode: 404 });
  const profile = readRaw(file) as Record<string, unknown>;
  const access = change((profile.access ?? {}) as Access);
  if (access === undefined) return false;
  const value = { ...profile, access };
  validateWithPending(agentProfileSchema, value, [], { env: workspace.env, vault: workspace.vault, file });
  writeYaml(file, value);
  workspace.reload();
  return true;
}
