/** Shapes of the admin API's answers, as the panel reads them (mirrors src/core/entry-status.ts). */

export type EntryState = 'stopped' | 'starting' | 'running' | 'error';

export interface TransportStatus {
  kind: string;
  state: 'connecting' | 'connected' | 'reconnecting' | 'listening' | 'stopped';
  reconnects: number;
  failedAttempts: number;
  connectedSince?: number;
  nextAttemptAt?: number;
  lastError?: { message: string; at: number };
}

export interface EntryStatus {
  key: string;
  id: string;
  channel: string;
  target: { kind: 'agent' | 'scene'; id: string };
  enabled: boolean;
  state: EntryState;
  since: number;
  lastError?: { code: string; message: string; at: number };
  restarts: number;
  nextRestartAt?: number;
  messagesIn: number;
  messagesOut: number;
  lastMessageAt?: number;
  transport?: TransportStatus;
}

export interface DashboardEntry extends EntryStatus {
  lastHour: { in: number; out: number };
  mailbox: number;
  dead: number;
  webhookUrl: string | null;
}

export interface Dashboard {
  at: number;
  entries: DashboardEntry[];
  totals: {
    lastHour: { in: number; out: number };
    mailbox: number;
    dead: number;
    entries: Record<EntryState, number>;
  };
  series: { bucketMs: number; start: number; in: number[]; out: number[] };
}

export interface SecretState {
  set: boolean;
  source?: 'env' | 'stored';
}

export interface Agent {
  id: string;
  file: string;
  profile: Record<string, unknown>;
  secrets: Record<string, SecretState>;
  entries: EntryStatus[];
}

export interface Scene {
  id: string;
  file: string;
  scene: { name?: string; roster: string[]; context?: string };
  entries: EntryStatus[];
}

export interface ChannelType {
  type: string;
  displayName: string;
  description: string;
  capabilities: { webhook: boolean; markdown: boolean; streaming: boolean; [k: string]: unknown };
  configSchema: JsonSchema;
}

export interface Entry {
  key: string;
  id: string;
  index: number;
  channel: string;
  enabled: boolean;
  config: Record<string, unknown>;
  secrets: Record<string, SecretState>;
  status: EntryStatus | null;
  webhookUrl?: string | null;
}

/** The subset of JSON Schema (as zod's toJSONSchema writes it) that the forms understand. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  writeOnly?: boolean;
  'x-secret'?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}
