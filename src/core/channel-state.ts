import type { Store } from '../store/store.js';
import type { ChannelSignals, ChannelState } from './channel.js';
import type { Clock } from './clock.js';

/** An entry's channel state, kept in the store (and so shared by the processes sharing it). */
export function storeChannelState(store: Pick<Store, 'getChannelState' | 'setChannelState'>, entryKey: string, clock: Clock): ChannelState {
  return {
    get: (name) => store.getChannelState(entryKey, name),
    set: (name, value) => store.setChannelState(entryKey, name, value, clock.now()),
  };
}

/** Signals of a channel with no other process to talk to (a store of one process, tests, tools): none go. */
export function noSignals(): ChannelSignals {
  return { send: () => false, listen: () => () => {} };
}

/** State in memory, lost with the process: for a channel run outside a gateway (tests, tools). */
export function memoryChannelState(): ChannelState {
  const values = new Map<string, string>();
  return {
    get: async (name) => values.get(name),
    set: async (name, value) => {
      values.set(name, value);
    },
  };
}

/**
 * Deletes the entries' channel state named `prefix…` whose value `stale` says is over, each only while
 * it still holds that value (one written again meanwhile stays). Returns how many went.
 */
export async function forgetStaleState(store: Pick<Store, 'listChannelState' | 'deleteChannelState'>, prefix: string, stale: (value: string) => boolean): Promise<number> {
  let forgotten = 0;
  for (const row of await store.listChannelState(prefix)) {
    if (stale(row.value) && (await store.deleteChannelState(row.entryKey, row.name, row.value))) forgotten++;
  }
  return forgotten;
}
