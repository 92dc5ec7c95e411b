import { useCallback, useEffect, useRef, useState } from 'react';
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

/** Loads something when its inputs change; `reload` fetches again. */
export function useLoad<T>(load: (() => Promise<T>) | undefined, deps: unknown[]): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [tick, setTick] = useState(0);
  const depsKey = JSON.stringify(deps);
  const lastKey = useRef(depsKey);
  useEffect(() => {
    // Other inputs (another entry): drop the old answer rather than show it under the new name.
    if (lastKey.current !== depsKey) {
      lastKey.current = depsKey;
      setState({});
    }
    if (!load) {
      setState({});
      return;
    }
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (err: unknown) => live && setState((s) => ({ data: s.data, error: errorText(err) })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [depsKey, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}
