import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * An interactive login that gives a channel its credentials (scanning a QR code with the platform's
 * app) instead of a form. The admin API runs one per entry; once confirmed it writes the result into
 * the entry's config, secrets into the vault, and the entry restarts with them.
 */
export interface LoginStatus {
  state: 'waiting' | 'scanned' | 'confirmed' | 'expired' | 'failed' | 'cancelled';
  /** What to show as a QR code for the user to scan (a URL), while waiting. */
  qrContent?: string;
  /** When the shown QR code stops working. */
  expiresAt?: number;
  /** Why the login failed or expired, or what the user should do next. */
  message?: string;
  /** Who logged in (an account id, never a secret), once confirmed. */
  account?: string;
}

/** Whether a login still waits for the user (scan or confirm); every other state is final. */
export function loginPending(state: LoginStatus['state']): boolean {
  return state === 'waiting' || state === 'scanned';
}

export interface LoginFlow {
  status(): LoginStatus;
  /** The config fields to write once confirmed; undefined when the login ended otherwise. */
  readonly result: Promise<Record<string, unknown> | undefined>;
  cancel(): void;
}

export interface LoginContext {
  clock: Clock;
  log: Logger;
}
