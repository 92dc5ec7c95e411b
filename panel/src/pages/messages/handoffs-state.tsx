import { polledList } from '../../components/polled-list';
import { messagesApi } from './messages-api';

/**
 * The conversations operators have now (`GET /api/admin/handoffs`), read every 5 s for the whole
 * panel: an operator sees a new message within that, on any page; the Messages link's badge and
 * the message log's list share the read.
 */
const handoffs = polledList(() => messagesApi.handoffs(), 5_000);

export const HandoffsProvider = handoffs.Provider;
export const useHandoffs = handoffs.use;
