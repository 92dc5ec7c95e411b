import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { usePolled } from './live';

export interface PolledList<T> {
  items: T[];
  error?: unknown;
  /** Reads the list again now (after a change made here). */
  reload(): Promise<unknown>;
}

/**
 * A list read from the admin API once for the whole panel, every `pollMs` while the page is
 * visible: a badge in the navigation and the page that lists it share one read.
 */
export function polledList<T>(load: () => Promise<T[]>, pollMs: number) {
  const Context = createContext<PolledList<T>>({ items: [], reload: async () => undefined });
  function Provider({ children }: { children: ReactNode }) {
    const polled = usePolled(load, pollMs, []);
    const value = useMemo(() => ({ items: polled.data ?? [], error: polled.error, reload: polled.reload }), [polled.data, polled.error, polled.reload]);
    return <Context.Provider value={value}>{children}</Context.Provider>;
  }
  return { Provider, use: (): PolledList<T> => useContext(Context) };
}
