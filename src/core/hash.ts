/**
 * Digests of one string or buffer: token checks, webhook signatures, fingerprints.
 * `crypto.hash` skips the Hash object of `createHash(…).update(…).digest()` and costs about half
 * as much per call; strings are hashed as UTF-8, exactly as `update(value)` does.
 */
import { hash } from 'node:crypto';

export type HashInput = string | Buffer;

/** SHA-256 digest as a 32-byte Buffer. */
export const sha256 = (value: HashInput): Buffer => hash('sha256', value, 'buffer');

/** Lowercase hex SHA-256. */
export const sha256Hex = (value: HashInput): string => hash('sha256', value, 'hex');

/** Lowercase hex SHA-1. */
export const sha1Hex = (value: HashInput): string => hash('sha1', value, 'hex');
