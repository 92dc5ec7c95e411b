/** Admin API answers the chat and messages pages read: the server's own types (see server-types.ts). */
import type { EntryStatus, InboundStatus } from '../../server-types';

export type { DeadLetter, DeadLetterKind, HandoffInfo, InboundStatus, LogPage, MediaRef, MessageDetail, MessageSummary, MessageView, PairingInfo, SenderAccess, TranscriptTurn, OutboundItem, TimelineEvent, TimelineFacts } from '../../server-types';

/** The fields of an entry's status these pages use. */
export type EntryInfo = Pick<EntryStatus, 'key' | 'id' | 'channel' | 'target' | 'enabled' | 'state' | 'lastError'>;

export const INBOUND_STATUSES: InboundStatus[] = ['queued', 'leased', 'done', 'fallback', 'dead'];

