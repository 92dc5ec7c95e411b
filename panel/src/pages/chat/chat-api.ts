import { api, ApiError } from '../../api';
import { i18n } from '../../i18n';
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
  /** Text, images (base64) or both; `content` is left out when empty. */
  send: (entryKey: string, userId: string, content: string, imagesBase64: string[] = []) =>
    api<{ messageId: string; duplicate: boolean }>('POST', base(entryKey), {
      userId,
      ...(content ? { content } : {}),
      ...(imagesBase64.length > 0 ? { images: imagesBase64.map((data_base64) => ({ data_base64 })) } : {}),
    }),
  eventsPath: (entryKey: string, userId: string, after: number) =>
    `${base(entryKey)}/events?userId=${encodeURIComponent(userId)}&after=${after}`,
};

/** `imageNames`: the names of the images sent, so an error about `images.<n>…` names its file. */
export function errorText(err: unknown, imageNames: string[] = []): string {
  if (err instanceof ApiError) {
    if (err.status === 503) return i18n.t('chat:errors.notRunning', { reason: err.message });
    if (err.status === 413) return i18n.t('chat:errors.tooLarge', { reason: err.message });
    const image = /^images\.(\d+)\b/.exec(err.field ?? '');
    const name = image ? imageNames[Number(image[1])] : undefined;
    if (name !== undefined) {
      const reason = err.message.startsWith(`${err.field}: `) ? err.message.slice(`${err.field}: `.length) : err.message;
      return i18n.t('chat:errors.imageRefused', { name, reason });
    }
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

