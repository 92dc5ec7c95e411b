import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptLarkJson,
  decryptLarkPayload,
  encryptLarkPayload,
  larkSignature,
  openLarkWebhook,
  verifyLarkSignature,
  verifyLarkToken,
} from '../../src/channels/feishu/webhook-crypto.js';
import { CocoError } from '../../src/core/errors.js';

// The official vector used across the Feishu SDKs' tests.
const VECTOR_KEY = 'test key';
const VECTOR = 'P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=';

const KEY = 'encrypt-key-0123';
const TOKEN = 'verification-token-abc';

function thrown(fn: () => unknown): CocoError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CocoError);
    return err as CocoError;
  }
  throw new Error('expected a throw');
}

/** Independent AES-256-CBC with chosen padding bytes, to build broken ciphertexts. */
function rawEncrypt(plain: Buffer, key: string, iv = Buffer.alloc(16, 7)): string {
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(key).digest(), iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(plain), cipher.final()]).toString('base64');
}

function signedHeaders(body: string, key = KEY, timestamp = '1714037059', nonce = 'n0nce') {
  return { 'x-lark-request-timestamp': timestamp, 'x-lark-request-nonce': nonce, 'x-lark-signature': larkSignature(timestamp, nonce, key, body) };
}

describe('Lark payload encryption', () => {
  it('decrypts the official vector', () => {
    expect(decryptLarkPayload(VECTOR, VECTOR_KEY)).toBe('hello world');
  });

  it('re-encrypting the vector with its own IV reproduces it byte for byte', () => {
    const iv = Buffer.from(VECTOR, 'base64').subarray(0, 16);
    expect(encryptLarkPayload('hello world', VECTOR_KEY, iv)).toBe(VECTOR);
  });

  it('round-trips UTF-8 JSON with a random IV, and block-aligned plaintext gets a full padding block', () => {
    const json = JSON.stringify({ schema: '2.0', text: '你好 👋', n: 1 });
    const a = encryptLarkPayload(json, KEY);
    const b = encryptLarkPayload(json, KEY);
    expect(a).not.toBe(b);
    expect(decryptLarkJson(a, KEY)).toEqual(JSON.parse(json));
    const aligned = encryptLarkPayload('x'.repeat(32), KEY);
    expect(Buffer.from(aligned, 'base64').length).toBe(16 + 48);
    expect(decryptLarkPayload(aligned, KEY)).toBe('x'.repeat(32));
  });

  it('explains bad base64, bad length, bad padding, a wrong key and non-JSON, naming the field', () => {
    expect(thrown(() => decryptLarkPayload('not base64!', KEY))).toMatchObject({ code: 'COCO_ERR_REQUEST_INVALID', statusCode: 400, field: 'encrypt', message: 'encrypt: is not base64' });
    expect(thrown(() => decryptLarkPayload(Buffer.alloc(40).toString('base64'), KEY)).message).toMatch(/^encrypt: decodes to 40 bytes/);
    const badPad = rawEncrypt(Buffer.concat([Buffer.from('hello world'), Buffer.from([5, 5, 5, 5, 4])]), KEY);
    expect(thrown(() => decryptLarkPayload(badPad, KEY)).message).toBe('encrypt: has invalid padding (wrong encrypt_key?)');
    const zeroPad = rawEncrypt(Buffer.concat([Buffer.from('hello world'), Buffer.alloc(5)]), KEY);
    expect(thrown(() => decryptLarkPayload(zeroPad, KEY)).message).toContain('invalid padding');
    // A wrong key almost always yields garbage padding; either way it must not decrypt to the text.
    expect(() => decryptLarkPayload(VECTOR, 'other key')).toThrow(/^encrypt: /);
    const notJson = encryptLarkPayload('hello world', KEY);
    expect(thrown(() => decryptLarkJson(notJson, KEY)).message).toMatch(/^encrypt: is not JSON/);
    expect(thrown(() => decryptLarkJson(encryptLarkPayload('[1,2]', KEY), KEY)).message).toBe('encrypt: is not a JSON object');
  });
});

describe('X-Lark-Signature', () => {
  it('is hex sha256 of timestamp + nonce + key + raw body', () => {
    const body = '{"encrypt":"abc"}';
    const expected = createHash('sha256').update(`1714037059n0nce${KEY}${body}`).digest('hex');
    expect(larkSignature('1714037059', 'n0nce', KEY, body)).toBe(expected);
    expect(larkSignature('1714037059', 'n0nce', KEY, Buffer.from(body))).toBe(expected);
  });

  it('verifies the exact bytes only: re-serialized JSON, another nonce or key fail', () => {
    const body = '{ "encrypt": "abc" }';
    const headers = signedHeaders(body);
    expect(verifyLarkSignature(headers, body, KEY)).toBe(true);
    expect(verifyLarkSignature(headers, JSON.stringify(JSON.parse(body)), KEY)).toBe(false);
    expect(verifyLarkSignature({ ...headers, 'x-lark-request-nonce': 'other' }, body, KEY)).toBe(false);
    expect(verifyLarkSignature(headers, body, 'other-key')).toBe(false);
  });

  it('reads headers in any case, accepts upper-case hex, and is false (not a throw) on missing or malformed ones', () => {
    const body = '{"encrypt":"abc"}';
    const h = signedHeaders(body);
    const upper = { 'X-Lark-Request-Timestamp': h['x-lark-request-timestamp'], 'X-Lark-Request-Nonce': h['x-lark-request-nonce'], 'X-Lark-Signature': h['x-lark-signature'].toUpperCase() };
    expect(verifyLarkSignature(upper, body, KEY)).toBe(true);
    expect(verifyLarkSignature({ ...h, 'x-lark-signature': undefined }, body, KEY)).toBe(false);
    expect(verifyLarkSignature({ ...h, 'x-lark-signature': 'abc' }, body, KEY)).toBe(false);
    expect(verifyLarkSignature({ ...h, 'x-lark-request-timestamp': undefined }, body, KEY)).toBe(false);
  });
});

describe('verification token', () => {
  it('matches only the exact string', () => {
    expect(verifyLarkToken(TOKEN, TOKEN)).toBe(true);
    expect(verifyLarkToken(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(verifyLarkToken(undefined, TOKEN)).toBe(false);
    expect(verifyLarkToken(42, TOKEN)).toBe(false);
  });
});

describe('openLarkWebhook', () => {
  const event = { schema: '2.0', header: { event_id: 'e1', event_type: 'im.message.receive_v1', token: TOKEN }, event: {} };
  const challenge = { challenge: 'ajls384kdjx98XX', token: TOKEN, type: 'url_verification' };

  it('opens a plain event and a plain challenge when only a verification token is set', () => {
    const body = JSON.stringify(event);
    expect(openLarkWebhook(body, {}, { verificationToken: TOKEN })).toEqual({ payload: event, encrypted: false });
    expect(openLarkWebhook(JSON.stringify(challenge), {}, { verificationToken: TOKEN }).payload).toEqual(challenge);
  });

  it('refuses a wrong or missing token with 401', () => {
    const wrong = { ...event, header: { ...event.header, token: 'nope' } };
    expect(thrown(() => openLarkWebhook(JSON.stringify(wrong), {}, { verificationToken: TOKEN }))).toMatchObject({ code: 'COCO_ERR_UNAUTHORIZED', statusCode: 401 });
    expect(thrown(() => openLarkWebhook(JSON.stringify({ ...challenge, token: undefined }), {}, { verificationToken: TOKEN })).statusCode).toBe(401);
  });

  it('opens an encrypted, signed event; the challenge needs no signature', () => {
    const body = JSON.stringify({ encrypt: encryptLarkPayload(JSON.stringify(event), KEY) });
    expect(openLarkWebhook(body, signedHeaders(body), { encryptKey: KEY, verificationToken: TOKEN })).toEqual({ payload: event, encrypted: true });
    const challengeBody = JSON.stringify({ encrypt: encryptLarkPayload(JSON.stringify(challenge), KEY) });
    expect(openLarkWebhook(challengeBody, {}, { encryptKey: KEY, verificationToken: TOKEN }).payload).toEqual(challenge);
  });

  it('refuses a bad signature, a plaintext body when a key is set, and ciphertext without a key', () => {
    const body = JSON.stringify({ encrypt: encryptLarkPayload(JSON.stringify(event), KEY) });
    expect(thrown(() => openLarkWebhook(body, signedHeaders(body, 'other'), { encryptKey: KEY })).message).toMatch(/X-Lark-Signature/);
    expect(thrown(() => openLarkWebhook(JSON.stringify(event), signedHeaders(JSON.stringify(event)), { encryptKey: KEY })).message).toMatch(/^unencrypted body refused/);
    expect(thrown(() => openLarkWebhook(body, signedHeaders(body), { verificationToken: TOKEN })).message).toMatch(/no encrypt_key/);
  });

  it('names the field for a malformed body', () => {
    expect(thrown(() => openLarkWebhook('{oops', {}, {}))).toMatchObject({ statusCode: 400, field: 'body' });
    expect(thrown(() => openLarkWebhook('[]', {}, {})).message).toBe('body: is not a JSON object');
    expect(thrown(() => openLarkWebhook('{"encrypt":5}', {}, { encryptKey: KEY })).message).toBe('encrypt: is not a string');
  });
});
