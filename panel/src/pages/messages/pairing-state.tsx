import { polledList } from '../../components/polled-list';
import { messagesApi } from './messages-api';

/**
 * Strangers' open pairing requests (`GET /api/admin/pairing`), read every 5 s for the whole panel:
 * an owner sees a stranger's code within that, on any page; the Messages link's badge and the
 * message log's list share the read.
 */
const pairing = polledList(() => messagesApi.pairingRequests(), 5_000);

export const PairingProvider = pairing.Provider;
export const usePairingRequests = pairing.use;
