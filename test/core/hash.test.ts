import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha1Hex, sha256, sha256Hex } from '../../src/core/hash.js';

// FIPS 180-2 vectors for "abc".
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const ABC_SHA1 = 'a9993e364706816aba3e25717850c26c9cd0d89d';
const INPUTS: (string | Buffer)[] = ['', 'abc', 'é€😀 non-ASCII', 'lone \ud800 surrogate', 'x'.repeat(10_000), Buffer.from([0, 0xff, 0x80])];

function check(h: { sha256: typeof sha256; sha256Hex: typeof sha256Hex; sha1Hex: typeof sha1Hex }) {
  expect(h.sha256('abc').toString('hex')).toBe(ABC_SHA256);
  expect(Buffer.isBuffer(h.sha256('abc'))).toBe(true);
  expect(h.sha256Hex('abc')).toBe(ABC_SHA256);
  expect(h.sha1Hex('abc')).toBe(ABC_SHA1);
  for (const input of INPUTS) {
    expect(h.sha256(input).equals(createHash('sha256').update(input).digest())).toBe(true);
    expect(h.sha256Hex(input)).toBe(createHash('sha256').update(input).digest('hex'));
    expect(h.sha1Hex(input)).toBe(createHash('sha1').update(input).digest('hex'));
  }
}

describe('shared hash helpers', () => {
  it('give the published digests and the same bytes as createHash', () => {
    check({ sha256, sha256Hex, sha1Hex });
  });
});
