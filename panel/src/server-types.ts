/**
 * The admin API's answer shapes, taken from the gateway's own source (type-only imports, erased
 * from the bundle) so the panel and the server cannot drift apart.
 */
export type { EntryState, EntryStatus, TransportStatus } from '../../src/core/entry-status';
export type { Dashboard, DashboardEntry } from '../../src/server/admin/dashboard';
export type { HandoffInfo } from '../../src/server/admin/handoffs';
export type { PairingInfo } from '../../src/server/admin/pairing';
export type { TranscriptTurn } from '../../src/server/admin/conversation';
export type { LogPage, MessageView, SenderAccess } from '../../src/server/admin/messages';
export type { ActivitySeries } from '../../src/ops/activity';
export type { DayStats } from '../../src/ops/daily-counts';
export type { NoticeView } from '../../src/server/admin/notices';
export type {
  ConversationSummary,
  DeadLetter,
  DeadLetterKind,
  InboundStatus,
  MessageDetail,
  MessageSummary,
  OutboundItem,
  TimelineEvent,
  TimelineFacts,
} from '../../src/store/store';
export type { SecretState } from '../../src/config/masking';
export type { MediaRef } from '../../src/core/message';
export type { LoginStatus } from '../../src/channels/login';
