/**
 * Handing a conversation to a person: for a while, the agent leaves an entry's conversation to an
 * operator, who answers from the panel (operator replies). The state lives with the entry's
 * state in the store, so every gateway process sharing the store sees it; it ends by itself.
 */
import type { Store } from '../store/store.js';

/** The longest hand-over one request grants: a week. */
export const MAX_HANDOFF_MS = 7 * 86_400_000;

const stateName = (conversationId: string) => `handoff:${conversationId}`;

/** Until when the agent leaves the conversation to a person, or undefined when it answers. */
export async function handedOffUntil(store: Pick<Store, 'getChannelState'>, entryKey: string, conversationId: string, now: number): Promise<number | undefined> {
  const value = await store.getChannelState(entryKey, stateName(conversationId));
  if (value === undefined) return undefined;
  const until = (JSON.parse(value) as { until?: unknown }).until;
  return typeof until === 'number' && until > now ? until : undefined;
}

/** Hands the conversation to a person until `until`; `until` in the past (0) gives it back to the agent. */
export function setHandoff(store: Pick<Store, 'setChannelState'>, entryKey: string, conversationId: string, until: number, now: number): Promise<void> {
  return store.setChannelState(entryKey, stateName(conversationId), JSON.stringify({ until }), now);
}
