/** Live state of one entry, as the admin API and panel show it. */
export type EntryState = 'stopped' | 'starting' | 'running' | 'error';

export interface EntryStatus {
  key: string;
  id: string;
  channel: string;
  target: { kind: 'agent' | 'scene'; id: string };
  enabled: boolean;
  state: EntryState;
  /** When the entry entered its current state (epoch ms). */
  since: number;
  lastError?: { code: string; message: string; at: number };
  /** Restarts after failures since the gateway started. */
  restarts: number;
  /** When the next automatic restart is due, while in error. */
  nextRestartAt?: number;
  messagesIn: number;
  messagesOut: number;
  lastMessageAt?: number;
}
