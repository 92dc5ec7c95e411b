/**
 * Which agent of a scene answers a message (`routes` in scene.yaml): the first rule whose every
 * condition fits decides; without one that fits, the lead (the first of the roster). So a help desk
 * can send its VIP group to one agent, refunds to another, and everything else to the lead, behind
 * one platform account. Read per message, from the message itself: every process agrees, and an
 * edit applies to the next message.
 */
import type { SceneConfig, SceneRoute } from '../config/schema.js';
import { parseEntryKey } from './ids.js';
import type { ChatMessage } from './message.js';

/** What a route reads: the entry and channel a message came in on, and the message. */
export interface Routable {
  entryKey: string;
  channelType: string;
  message: Pick<ChatMessage, 'userId' | 'conversationId' | 'isGroup' | 'content' | 'msgType'>;
}

/** The roster agent that answers, and the index of the route that chose it (none: the lead). */
export function routeOf(scene: SceneConfig, m: Routable | undefined): { agentId: string; route?: number } {
  const route = m === undefined ? -1 : scene.routes.findIndex((r) => fits(r, m));
  return route < 0 ? { agentId: scene.roster[0]! } : { agentId: scene.routes[route]!.agent, route };
}

function fits(route: SceneRoute, { entryKey, channelType, message }: Routable): boolean {
  if (route.channels && !route.channels.includes(channelType)) return false;
  if (route.entries && !route.entries.includes(parseEntryKey(entryKey)?.entryId ?? '')) return false;
  if (route.chats && (route.chats === 'group') !== message.isGroup) return false;
  if (route.users && !route.users.includes(message.userId)) return false;
  if (route.groups && !(message.isGroup && route.groups.includes(message.conversationId))) return false;
  if (route.contains) {
    // Words a user wrote or said, as keyword replies read them.
    if (message.msgType !== 'text' && message.msgType !== 'voice') return false;
    const text = message.content.toLowerCase();
    if (!route.contains.some((phrase) => text.includes(phrase.toLowerCase()))) return false;
  }
  return true;
}
