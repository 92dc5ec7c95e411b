/**
 * Handing a conversation to a person: for a while, the agent leaves an entry's conversation to an
 * operator, who answers from the panel (operator replies). An operator hands it over from the panel,
 * a user by asking (`handoff.commands` in the profile, 转人工), an http agent with its answer. The
 * state lives with the entry's state in the store, so every gateway process sharing the store sees
 * it; it ends by itself.
 */
import type { HandoffSettings } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { forgetStaleState } from './channel-state.js';
import { isCommand } from './commands.js';
import type { ChatMessage } from './message.js';

const PREFIX = 'handoff:';
/** The entry's channel state that holds a conversation's hand-over. */
export const handoffStateName = (conversationId: string) => `${PREFIX}${conversationId}`;

/** Who handed a conversation over: an operator, the user asking for a person, or the agent. */
export type HandoffBy = 'operator' | 'user' | 'agent';

/** A conversation an operator has now. */
export interface Handoff {
  entryKey: string;
  conversationId: string;
  until: number;
  by: HandoffBy;
  /** Who took it, when an operator did from the panel or the admin API (`operator alice`, `admin`): others see who has it. */
  actor?: string;
}

/** Whether `message` asks for a person: one of the profile's `handoff.commands` (see `isCommand`). */
export function isHandoffCommand(settings: HandoffSettings | undefined, message: Pick<ChatMessage, 'content' | 'msgType'>): boolean {
  return settings !== undefined && isCommand(settings.commands, message);
}

/** The state that hands a conversation over until `until`, for a completion to set with the reply that says so. */
export function handoffState(entryKey: string, conversationId: string, until: number, by: HandoffBy, actor?: string): { entryKey: string; name: string; value: string } {
  return { entryKey, name: handoffStateName(conversationId), value: JSON.stringify({ until, by, ...(actor ? { actor } : {}) }) };
}

/** Until when the agent leaves the conversation to a person, or undefined when it answers. */
export async function handedOffUntil(store: Pick<Store, 'getChannelState'>, entryKey: string, conversationId: string, now: number): Promise<number | undefined> {
  return (await handoffOf(store, entryKey, conversationId, now))?.until;
}

/** The conversation's hand-over now (until when, by whom), or undefined when the agent answers it. */
export async function handoffOf(
  store: Pick<Store, 'getChannelState'>,
  entryKey: string,
  conversationId: string,
  now: number,
): Promise<Pick<Handoff, 'until' | 'by' | 'actor'> | undefined> {
  const value = await store.getChannelState(entryKey, handoffStateName(conversationId));
  return value === undefined ? undefined : stateIn(value, now);
}

/** Every conversation handed to a person now, across entries, the one handed back soonest first. */
export async function activeHandoffs(store: Pick<Store, 'listChannelState'>, now: number): Promise<Handoff[]> {
  const handoffs: Handoff[] = [];
  for (const row of await store.listChannelState(PREFIX)) {
    const state = stateIn(row.value, now);
    if (state) handoffs.push({ entryKey: row.entryKey, conversationId: row.name.slice(PREFIX.length), ...state });
  }
  return handoffs.sort((a, b) => a.until - b.until);
}

/**
 * Deletes the state of hand-overs that ended (by time, or given back), so it does not pile up with
 * every conversation ever handed over; one set again meanwhile stays. Returns how many went.
 */
export function forgetEndedHandoffs(store: Pick<Store, 'listChannelState' | 'deleteChannelState'>, now: number): Promise<number> {
  return forgetStaleState(store, PREFIX, (value) => stateIn(value, now) === undefined);
}

/** The hand-over a state value holds, if it lasts past `now`; written before `by` was kept: an operator's. */
function stateIn(value: string, now: number): Pick<Handoff, 'until' | 'by' | 'actor'> | undefined {
  const { until, by, actor } = JSON.parse(value) as { until?: unknown; by?: unknown; actor?: unknown };
  if (typeof until !== 'number' || until <= now) return undefined;
  return { until, by: by === 'user' || by === 'agent' ? by : 'operator', ...(typeof actor === 'string' ? { actor } : {}) };
}

/**
 * An operator (`actor`, as server/session.ts names them) hands the conversation to a person until
 * `until`; `until` in the past (0) gives it back to the agent.
 */
export function setHandoff(store: Pick<Store, 'setChannelState'>, entryKey: string, conversationId: string, until: number, now: number, actor?: string): Promise<void> {
  const state = handoffState(entryKey, conversationId, until, 'operator', actor);
  return store.setChannelState(state.entryKey, state.name, state.value, now);
}
