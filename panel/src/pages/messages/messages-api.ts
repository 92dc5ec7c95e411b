import { api, ApiError } from '../../api';
import type { DeadLetter, DeadLetterKind, EntryInfo, HandoffInfo, InboundStatus, LogPage, MessageView, PairingInfo } from './types';

/** The admin message-log and dead-letter endpoints, typed for the page. */

export interface LogFilter {
  entry?: string;
  userId?: string;
  status?: InboundStatus;
  /** Words the message contains. */
  text?: string;
}

export const PAGE_SIZE = 50;

function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A conversation's hand-over: until when (null: the agent answers), and who handed it over. */
export type HandoffState = { until: number | null } & Partial<Pick<HandoffInfo, 'by' | 'actor'>>;

export const messagesApi = {
  entries: () => api<{ entries: EntryInfo[] }>('GET', '/entries').then((r) => r.entries),
  list: (f: LogFilter, before?: string) =>
    api<LogPage>('GET', `/messages${qs({ entry: f.entry, userId: f.userId, status: f.status, text: f.text, before, limit: PAGE_SIZE })}`),
  get: (id: string) => api<MessageView>('GET', `/messages/${encodeURIComponent(id)}`),
  deadLetters: (kind?: DeadLetterKind, entry?: string) =>
    api<{ deadLetters: DeadLetter[] }>('GET', `/dead-letters${qs({ kind, entry })}`).then((r) => r.deadLetters),
  handoff: (entryKey: string, conversationId: string) => api<HandoffState>('GET', handoffPath(entryKey, conversationId)),
  handOver: (entryKey: string, conversationId: string, minutes: number) => api<HandoffState>('PUT', handoffPath(entryKey, conversationId), { minutes }),
  giveBack: (entryKey: string, conversationId: string) => api<HandoffState>('DELETE', handoffPath(entryKey, conversationId)),
  /** With the same `idempotencyKey`, a request sent again (after a lost response) sends nothing twice. */
  reply: (id: string, text: string, images: { data_base64: string }[], idempotencyKey: string) =>
    api<{ chunks: number; duplicate: boolean }>(
      'POST',
      `/messages/${encodeURIComponent(id)}/reply`,
      { text, ...(images.length > 0 ? { images } : {}) },
      { 'idempotency-key': idempotencyKey },
    ),
  handoffs: () => api<{ handoffs: HandoffInfo[] }>('GET', '/handoffs').then((r) => r.handoffs),
  pairingRequests: () => api<{ requests: PairingInfo[] }>('GET', '/pairing').then((r) => r.requests),
  approvePairing: (code: string) =>
    api<{ userId: string; changes: string[]; notified: boolean }>('POST', `/pairing/${encodeURIComponent(code)}/approve`),
  rejectPairing: (code: string) => api<{ userId: string }>('DELETE', `/pairing/${encodeURIComponent(code)}`),
  allowSender: (id: string) =>
    api<{ agentId: string; changes: string[] }>('POST', `/messages/${encodeURIComponent(id)}/allow-sender`),
  forgetUser: (entryKey: string, userId: string) =>
    api<{ messages: number; replies: number; turns: number; feedItems: number; kept: number }>(
      'DELETE',
      `/entries/${encodeURIComponent(entryKey)}/users/${encodeURIComponent(userId)}`,
    ),
  blockSender: (id: string) =>
    api<{ agentId: string; userId: string; alreadyBlocked: boolean }>('POST', `/messages/${encodeURIComponent(id)}/block-sender`),
  retry: (kind: DeadLetterKind, id: string) => api<{ retried: boolean }>('POST', `/dead-letters/${kind}/${encodeURIComponent(id)}/retry`),
};

function handoffPath(entryKey: string, conversationId: string): string {
  return `/entries/${encodeURIComponent(entryKey)}/handoffs/${encodeURIComponent(conversationId)}`;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.field ? `${err.message} (${err.field})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
