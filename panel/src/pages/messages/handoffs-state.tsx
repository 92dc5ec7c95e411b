import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { usePolled } from '../../components/live';
import { messagesApi } from './messages-api';
import type { HandoffInfo } from './types';

/** How often the panel reads the hand-overs: an operator sees a new message within this, on any page. */
const POLL_MS = 5_000;

interface HandoffsState {
  handoffs: HandoffInfo[];
  error?: unknown;
  /** Reads them again now (after a change made here). */
  reload(): Promise<unknown>;
}

const HandoffsContext = createContext<HandoffsState>({ handoffs: [], reload: async () => undefined });

/**
 * The conversations operators have now (`GET /api/admin/handoffs`), read once for the whole panel
 * while the page is visible: the Messages link's badge and the message log's list share it.
 */
export function HandoffsProvider({ children }: { children: ReactNode }) {
  const polled = usePolled(() => messagesApi.handoffs(), POLL_MS, []);
  const value = useMemo(() => ({ handoffs: polled.data ?? [], error: polled.error, reload: polled.reload }), [polled.data, polled.error, polled.reload]);
  return <HandoffsContext.Provider value={value}>{children}</HandoffsContext.Provider>;
}

export function useHandoffs(): HandoffsState {
  return useContext(HandoffsContext);
}
