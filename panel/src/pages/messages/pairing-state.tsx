import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { usePolled } from '../../components/live';
import { messagesApi } from './messages-api';
import type { PairingInfo } from './types';

/** How often the panel reads the pairing requests: an owner sees a stranger's code within this, on any page. */
const POLL_MS = 5_000;

interface PairingState {
  requests: PairingInfo[];
  error?: unknown;
  /** Reads them again now (after an approval or a rejection here). */
  reload(): Promise<unknown>;
}

const PairingContext = createContext<PairingState>({ requests: [], reload: async () => undefined });

/**
 * Strangers' open pairing requests (`GET /api/admin/pairing`), read once for the whole panel while
 * the page is visible: the Messages link's badge and the message log's list share it.
 */
export function PairingProvider({ children }: { children: ReactNode }) {
  const polled = usePolled(() => messagesApi.pairingRequests(), POLL_MS, []);
  const value = useMemo(() => ({ requests: polled.data ?? [], error: polled.error, reload: polled.reload }), [polled.data, polled.error, polled.reload]);
  return <PairingContext.Provider value={value}>{children}</PairingContext.Provider>;
}

export function usePairingRequests(): PairingState {
  return useContext(PairingContext);
}
