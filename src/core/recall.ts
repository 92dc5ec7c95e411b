/**
 * Messages their senders recalled (withdrew) before the agent answered them. A channel whose
 * platform reports recalls (`capabilities.recalls`: Feishu's `im.message.recalled_v1`) notes the
 * message's platform id in the entry's state, shared by every process on the store; the heartbeat
 * then finishes such a message without a reply, before the agent runs and again before an answer
 * is stored (the user took the message back: an answer would show what they withdrew). While the
 * agent works, the note is looked for every RECALL_CHECK_MS, and the agent's call is stopped when it
 * appears: no tokens go on an answer nobody will get. Notes are kept a day, longer than any message
 * waits for its agent, then pruned.
 */
import type { Store } from '../store/store.js';
import type { ChannelState } from './channel.js';
import { forgetStaleState } from './channel-state.js';
import type { Clock } from './clock.js';
import { CocoError } from './errors.js';

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

/** How often a message whose agent is at work is looked up for a recall (one indexed read each time). */
export const RECALL_CHECK_MS = 1_000;

/** What stops an agent run whose message was recalled; not retried. */
const recalledWhileRunning = () =>
  new CocoError('COCO_ERR_AGENT_FAILED', 'agent run stopped: its sender recalled the message', { retryable: false });

/**
 * A signal for an agent run: aborted with `signal` (shutdown, a lost lease), or with
 * `recalledWhileRunning()` once the message with this platform id is noted as recalled, by this
 * process or any other on the store. `stop()` ends the look-ups.
 */
export function watchRecall(
  deps: { store: Pick<Store, 'getChannelState'>; clock: Clock },
  entryKey: string,
  platformMessageId: string,
  signal: AbortSignal,
): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  let looking = false;
  const cancel = deps.clock.every(RECALL_CHECK_MS, () => {
    if (looking || controller.signal.aborted) return;
    looking = true;
    wasRecalled(deps.store, entryKey, platformMessageId)
      .then((recalled) => recalled && controller.abort(recalledWhileRunning()))
      // A look-up that failed is made again at the next check; the check after the answer still stands.
      .catch(() => {})
      .finally(() => (looking = false));
  });
  return {
    signal: controller.signal,
    stop: () => {
      cancel();
      signal.removeEventListener('abort', forward);
    },
  };
}

/** Deletes the notes older than RECALL_MEMORY_MS. Returns how many went. */
export function forgetOldRecalls(store: Pick<Store, 'listChannelState' | 'deleteChannelState'>, now: number): Promise<number> {
  return forgetStaleState(store, PREFIX, (value) => {
    const { at } = JSON.parse(value) as { at?: unknown };
    return typeof at !== 'number' || at < now - RECALL_MEMORY_MS;
  });
}
