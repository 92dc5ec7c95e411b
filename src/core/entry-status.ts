/** Live state of one entry, as the admin API and panel show it. */
/** `standby`: another gateway process runs this entry (its platform allows one connection per bot). */
export const ENTRY_STATES = ['stopped', 'starting', 'standby', 'running', 'error'] as const;
export type EntryState = (typeof ENTRY_STATES)[number];

/** How many of the given entries are in each state, every state listed (zero when none is). */
export function countByState(states: Iterable<EntryState>): Record<EntryState, number> {
  const counts = Object.fromEntries(ENTRY_STATES.map((s) => [s, 0])) as Record<EntryState, number>;
  for (const state of states) counts[state]++;
  return counts;
}

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
  /** The link to the platform, for channels that hold one (a long connection) or wait for pushes. */
  transport?: TransportStatus;
}

/**
 * How a channel's link to its platform is doing. Kept apart from `state`: an entry can be running
 * while its socket reconnects, and a connected socket is not proof that events still arrive.
 */
export interface TransportStatus {
  /** How the platform reaches the channel, e.g. "websocket" or "webhook". */
  kind: string;
  state: 'connecting' | 'connected' | 'reconnecting' | 'listening' | 'stopped';
  /** Connections re-established after one was lost, since the channel started. */
  reconnects: number;
  /** Attempts that failed in a row during the current outage. */
  failedAttempts: number;
  /** When the current connection was established. */
  connectedSince?: number;
  lastDisconnectedAt?: number;
  /** When the next connection attempt is due, while reconnecting. */
  nextAttemptAt?: number;
  /** Why the last connection ended or the last attempt failed. Never holds a secret. */
  lastError?: { message: string; at: number };
  /** Last time anything arrived from the platform (a pong, an event): the link is alive. */
  lastFrameAt?: number;
  /** Last platform event, whether answered or not: events are flowing. */
  lastEventAt?: number;
  eventsReceived: number;
}
