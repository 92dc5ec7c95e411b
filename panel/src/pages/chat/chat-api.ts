import { api, ApiError } from '../../api';
import type { EntryInfo } from '../messages/types';
import type { TranscriptTurn } from './chat-state';

/** The admin chat endpoints (`/api/admin/chat/<entryKey>/…`), typed for the page. */

export interface Conversation {
  userId: string;
  messages: number;
  lastAt: number;
  lastText: string;
}

const base = (entryKey: string) => `/chat/${encodeURIComponent(entryKey)}`;

export const chatApi = {
  entries: () => api<{ entries: EntryInfo[] }>('GET', '/entries').then((r) => r.entries.filter((e) => e.channel === 'web_api')),
  conversations: (entryKey: string) => api<{ conversations: Conversation[] }>('GET', `${base(entryKey)}/conversations`).then((r) => r.conversations),
  transcript: (entryKey: string, userId: string) =>
    api<{ turns: TranscriptTurn[]; lastSeq?: number }>('GET', `${base(entryKey)}/transcript?userId=${encodeURIComponent(userId)}`),
  send: (entryKey: string, userId: string, content: string) =>
    api<{ messageId: string; duplicate: boolean }>('POST', base(entryKey), { userId, content }),
  eventsPath: (entryKey: string, userId: string, after: number) =>
    `${base(entryKey)}/events?userId=${encodeURIComponent(userId)}&after=${after}`,
};

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 503) return `The entry is not running: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

