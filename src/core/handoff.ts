/**
 * Handing a conversation to a person: for a while, the agent leaves an entry's conversation to an
 * operator, who answers from the panel (operator replies). The state lives with the entry's
 * state in the store, so every gateway process sharing the store sees it; it ends by itself.
 */
import type { Store } from '../store/store.js';

/** The longest hand-over one request grants: a week. */
export const MAX_HANDOFF_MS = 7 * 86_400_000;

const PREFIX = 'handoff:';
const stateName = (conversationId: string) => `${PREFIX}${conversationId}`;

/** A conversation an operator has now. */
export interface Handoff {
  entryKey: string;
  conversationId: string;
  until: number;
}

/** Until when the agent leaves the conversation to a person, or undefined when it answers. */
export async function handedOffUntil(store: Pick<Store, 'getChannelState'>, entryKey: string, conversationId: string, now: number): Promise<number | undefined> {
  const value = await store.getChannelState(entryKey, stateName(conversationId));
  if (value === undefined) return undefined;
  return untilIn(value, now);
}

/** Every conversation handed to a person now, across entries, the one handed back soonest first. */
export async function activeHandoffs(store: Pick<Store, 'listChannelState'>, now: number): Promise<Handoff[]> {
  const handoffs: Handoff[] = [];
  for (const row of await store.listChannelState(PREFIX)) {
    const until = untilIn(row.value, now);
    if (until !== undefined) handoffs.push({ entryKey: row.entryKey, conversationId: row.name.slice(PREFIX.length), until });
  }
  return handoffs.sort((a, b) => a.until - b.until);
}

function untilIn(value: string, now: number): number | undefined {
  const until = (JSON.parse(value) as { until?: unknown }).until;
  return typeof until === 'number' && until > now ? until : undefined;
}

/** Hands the conversation to a person until `until`; `until` in the past (0) gives it back to the agent. */
export function setHandoff(store: Pick<Store, 'setChannelState'>, entryKey: string, conversationId: string, until: number, now: number): Promise<void> {
  return store.setChannelState(entryKey, stateName(conversationId), JSON.stringify({ until }), now);
}
