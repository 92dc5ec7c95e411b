/** Admin API answers the chat and messages pages read (mirrors src/store/store.ts and src/core/entry-status.ts). */

/** The fields of an entry's status these pages use. */
export interface EntryInfo {
  key: string;
  id: string;
  channel: string;
  target: { kind: 'agent' | 'scene'; id: string };
  enabled: boolean;
  state: 'stopped' | 'starting' | 'running' | 'error';
  lastError?: { code: string; message: string; at: number };
}

export type InboundStatus = 'queued' | 'leased' | 'done' | 'fallback' | 'dead';
export const INBOUND_STATUSES: InboundStatus[] = ['queued', 'leased', 'done', 'fallback', 'dead'];

export interface MessageSummary {
  id: string;
  entryKey: string;
  channelType: string;
  targetKind: 'agent' | 'scene';
  targetId: string;
  userId: string;
  conversationId: string;
  content: string;
  status: InboundStatus;
  attempts: number;
  createdAt: number;
  lastError?: string;
}

export interface TimelineEvent {
  at: number;
  stage: string;
  detail?: string;
}

export interface OutboundItem {
  id: string;
  text: string;
  format?: 'text' | 'markdown';
  status: 'pending' | 'leased' | 'sent' | 'dead';
  attempts: number;
  createdAt: number;
  sentAt?: number;
  lastError?: string;
  chunkIndex: number;
  chunkCount: number;
  expiresAt?: number;
}

export interface MessageDetail extends MessageSummary {
  message: { msgId?: string; content: string; timestamp?: number; isGroup?: boolean; [k: string]: unknown };
  timeline: TimelineEvent[];
  replies: OutboundItem[];
}

export type DeadLetterKind = 'inbound' | 'outbound';

export interface DeadLetter {
  kind: DeadLetterKind;
  id: string;
  entryKey: string;
  channelType: string;
  conversationId: string;
  userId: string;
  text: string;
  attempts: number;
  error: string;
  createdAt: number;
  deadAt: number;
  replyTo?: string;
}
