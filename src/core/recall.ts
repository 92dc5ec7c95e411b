/**
 * Messages their senders recalled (withdrew) before the agent answered them. A channel whose
 * platform reports recalls (`capabilities.recalls`: Feishu's `im.message.recalled_v1`) notes the
 * message's platform id in the entry's state, shared by every process on the store; the heartbeat
 * then finishes such a message without a reply, before the agent runs and again before an answer
 * is stored (the user took the message back: an answer would show what they withdrew). Notes are
 * kept a day, longer than any message waits for its agent, then pruned.
 */
import type { Store } from '../store/store.js';
import type { ChannelState } from './channel.js';
import { forgetStaleState } from './channel-state.js';

const PREFIX = 'recalled:';
/** How long a recall is remembered. */
export const RECALL_MEMORY_MS = 24 * 3_600_000;

const stateName = (platformMessageId: string) => `${PREFIX}${platformMessageId}`;

/** Notes that the message with this platform id was recalled (throws when the store does: the platform then redelivers the event). */
export function noteRecall(state: ChannelState, platformMessageId: string, at: number): Promise<void> {
  return state.set(stateName(platformMessageId), JSON.stringify({ at }));
}

/** Whether the message with this platform id was recalled. */
export async function wasRecalled(store: Pick<Store, 'getChannelState'>, entryKey: string, platformMessageId: string): Promise<boolean> {
  return (await store.getChannelState(entryKey, stateName(platformMessageId))) !== undefined;
}

/** Deletes the notes older than RECALL_MEMORY_MS. Returns how many went. */
export function forgetOldRecalls(store: Pick<Store, 'listChannelState' | 'deleteChannelState'>, now: number): Promise<number> {
  return forgetStaleState(store, PREFIX, (value) => {
    const { at } = JSON.parse(value) as { at?: unknown };
    return typeof at !== 'number' || at < now - RECALL_MEMORY_MS;
  });
}
