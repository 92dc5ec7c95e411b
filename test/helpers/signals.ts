import type { ChannelSignals } from '../../src/core/channel.js';

/**
 * Signals between gateway processes sharing a store, for channel tests. The bus stands in
 * for the store's notifications (tested on PostgreSQL in the store's own tests): in order, never back to
 * the sender, and able to lose what a test drops on purpose.
 */
export function bus() {
  const listeners = new Map<string, (topic: string, body: string) => void>();
  const sent: { from: string; topic: string; body: string }[] = [];
  let dropNext = 0;
  const signals = (name: string): ChannelSignals => ({
    send(topic, body) {
      sent.push({ from: name, topic, body });
      if (dropNext > 0) {
        dropNext--;
        return true; // gone on the way, as a notification lost while reconnecting
      }
      for (const [other, listener] of listeners) if (other !== name) listener(topic, body);
      return true;
    },
    listen(listener) {
      listeners.set(name, listener);
      return () => listeners.delete(name);
    },
  });
  return { signals, sent, drop: (n: number) => (dropNext = n) };
}

