/** Shapes of the admin API's answers, as the panel reads them; the entry and store types are the server's own. */
import type { EntryStatus, LoginStatus, SecretState } from '../server-types';

export type { Dashboard, DashboardEntry, EntryState, EntryStatus, LoginStatus, SecretState, TransportStatus } from '../server-types';

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
  /** Name and description in other languages (`zh`), where the channel gives them. */
  translations?: Record<string, { displayName?: string; description?: string }>;
  capabilities: { webhook: boolean; markdown: boolean; streaming: boolean; [k: string]: unknown };
  /** Credentials come from a QR-code login (`POST …/entries/<id>/login`) rather than the form. */
  login: boolean;
  configSchema: JsonSchema;
}

/** A QR-code login of one entry, as `…/entries/<id>/login` answers. */
export interface EntryLogin extends LoginStatus {
  key: string;
  channel: string;
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
  /** The field's label and help in other languages (the gateway's `zh()`): `{"zh": {"title", "description"}}`. */
  'x-i18n'?: Record<string, { title?: string; description?: string }>;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}
