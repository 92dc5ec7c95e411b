import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '../core/hash.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { OPERATOR_PERMISSIONS, type OperatorPermission } from './schema.js';

/** The admin token's SHA-256 is kept in data/, never the token itself: it is shown once, when generated. */
const TOKEN_HASH_FILE = join('data', 'admin-token.sha256');

export interface AdminTokenSource {
  /** Checks a presented token in constant time. */
  verify(token: string | undefined): boolean;
  /** Set only when this start generated a new token, so it can be printed once. */
  generated?: string;
  /**
   * Signs panel session cookies. Derived from the token's hash: sessions survive a restart, and
   * a new admin token ends every session made with the old one.
   */
  sessionKey: Buffer;
}

export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/**
 * The admin token comes from COCOCAT_ADMIN_TOKEN, else cococat.yaml `admin_token` (already resolved),
 * else the stored hash; with none of them a new token is generated and its hash stored.
 */
export function loadAdminToken(root: string, configured: string | undefined): AdminTokenSource {
  let digest: Buffer;
  let generated: string | undefined;
  const hashFile = join(root, TOKEN_HASH_FILE);
  if (configured) {
    digest = sha256(configured);
  } else if (existsSync(hashFile)) {
    digest = Buffer.from(readFileSync(hashFile, 'utf8').trim(), 'hex');
  } else {
    generated = newToken('cc_admin');
    digest = sha256(generated);
    writeFileAtomic(hashFile, `${digest.toString('hex')}\n`, 0o600);
  }
  return {
    generated,
    sessionKey: createHmac('sha256', digest).update('cococat panel session v1').digest(),
    verify(token) {
      if (!token) return false;
      const presented = sha256(token);
      return presented.length === digest.length && timingSafeEqual(presented, digest);
    },
  };
}

/**
 * Operators' tokens (cococat.yaml `operator_tokens`): each is known by a short fingerprint of its
 * digest, which a panel session keeps, so removing a token from the list ends its sessions; and by
 * its operator's name where the list gives one.
 */
export interface OperatorTokens {
  /** The operator whose token was presented, or undefined when it is none of them. */
  verify(token: string | undefined): Operator | undefined;
  /** The operator whose token has this fingerprint, while it is on the list. */
  byFingerprint(fingerprint: string): Operator | undefined;
}

export interface Operator {
  fingerprint: string;
  name?: string;
  /** What they may do besides reading (`can`; all when it was left out). */
  can: ReadonlySet<OperatorPermission>;
}

export function operatorTokens(tokens: readonly { token: string; name?: string; can?: readonly OperatorPermission[] }[]): OperatorTokens {
  const known = tokens.map(({ token, name, can }) => {
    const digest = sha256(token);
    const operator: Operator = { fingerprint: digest.subarray(0, 8).toString('hex'), ...(name ? { name } : {}), can: new Set(can ?? OPERATOR_PERMISSIONS) };
    return { digest, operator };
  });
  return {
    verify(token) {
      if (!token || known.length === 0) return undefined;
      const presented = sha256(token);
      // Every digest is compared, in constant time each, so the time says nothing about which matched.
      let found: Operator | undefined;
      for (const k of known) if (timingSafeEqual(presented, k.digest)) found = k.operator;
      return found;
    },
    byFingerprint: (fingerprint) => known.find((k) => k.operator.fingerprint === fingerprint)?.operator,
  };
}
