import { createCipheriv, createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TencentCrypto, signature, verifySignature } from '../../src/channels/shared/tencent-crypto.js';
import { CocoError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/errors.js';

// Published vectors: wechatpy tests/test_crypto.py (WeCom) and the OA encryption doc (plaintext signatures).
const TOKEN = '123456';
const KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
const CORP_ID = 'wx49f0ab532d5d035a';
const ECHOSTR = '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==';

const crypto = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: CORP_ID });

// Raw AES helpers written independently of the module, so tests can build and inspect blocks themselves.
const rawKey = Buffer.from(`${KEY}=`, 'base64');
function rawDecrypt(b64: string): Buffer {
  const d = createDecipheriv('aes-256-cbc', rawKey, rawKey.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([d.update(Buffer.from(b64, 'base64')), d.final()]);
}
function rawEncrypt(plain: Buffer): string {
  const c = createCipheriv('aes-256-cbc', rawKey, rawKey.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]).toString('base64');
}
/** random16 | len | msg | id, then `pad` appended as given (not computed). */
function layout(msg: string, id: string, pad: Buffer): Buffer {
  const m = Buffer.from(msg, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(m.length);
  return Buffer.concat([Buffer.from('abcdefghijklmnop'), len, m, Buffer.from(id), pad]);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
function expectCoco(fn: () => unknown, code: ErrorCode = 'COCO_ERR_REQUEST_INVALID'): CocoError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(CocoError);
  const coco = err as CocoError;
  expect(coco.code).toBe(code);
  if (code === 'COCO_ERR_REQUEST_INVALID') expect(coco.statusCode).toBe(400);
  return coco;
}

describe('published vectors', () => {
  it('WeCom GET verify: msg_signature over the echostr verifies, and fails with another nonce', () => {
    expect(signature(TOKEN, '1411443780', '437374425', ECHOSTR)).toBe('dd6b9c95b495b3f7e2901bfbc76c664930ffdb96');
    expect(crypto.verify('dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', '1411443780', '437374425', ECHOSTR)).toBe(true);
    expect(crypto.verify('dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', '1411443780', '437374424', ECHOSTR)).toBe(false);
    expectCoco(() =>
      crypto.decryptVerified({ msgSignature: 'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', timestamp: '1411443780', nonce: '437374424', encrypt: ECHOSTR }),
    );
  });

  it('WeCom GET verify: the echostr decrypts, and re-encrypting with its random bytes reproduces it exactly', () => {
    const echo = crypto.decryptVerified({ msgSignature: 'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', timestamp: '1411443780', nonce: '437374425', encrypt: ECHOSTR });
    expect(typeof echo).toBe('string');
    expect(echo.length).toBeGreaterThan(0);
    const random = rawDecrypt(ECHOSTR).subarray(0, 16); // first plaintext block = the random prefix
    expect(crypto.open(ECHOSTR).random.equals(random)).toBe(true);
    expect(crypto.encrypt(echo, random)).toBe(ECHOSTR);
  });

  it('WeCom encrypt vector: fixed random gives the exact Encrypt, MsgSignature and envelope from wechatpy', () => {
    const reply =
      '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n' +
      '<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>';
    const expectedEncrypt =
      '9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3';
    const random = Buffer.from('1234567890123456');
    expect(crypto.encrypt(reply, random)).toBe(expectedEncrypt);
    expect(signature(TOKEN, '1411525903', '461056294', expectedEncrypt)).toBe('407518b7649e86ef23978113f92d27afa9296533');
    // wechatpy puts a newline between elements; our envelope has none, otherwise identical.
    expect(crypto.wrapReply(reply, '1411525903', '461056294', random)).toBe(
      `<xml><Encrypt><![CDATA[${expectedEncrypt}]]></Encrypt><MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>` +
        '<TimeStamp>1411525903</TimeStamp><Nonce><![CDATA[461056294]]></Nonce></xml>',
    );
    expect(crypto.decrypt(expectedEncrypt)).toBe(reply);
  });

  it('WeCom decrypt vector: a signed inbound message verifies and decrypts', () => {
    const encrypt =
      'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=';
    const xml = crypto.decryptVerified({ msgSignature: '74d92dfeb87ba7c714f89d98870ae5eb62dff26d', timestamp: '1411525903', nonce: '461056294', encrypt });
    expect(xml).toMatch(/<Content><!\[CDATA\[test\]\]><\/Content>/);
    expect(xml).toMatch(/<FromUserName><!\[CDATA\[messense\]\]><\/FromUserName>/);
  });

  it('OA plaintext-mode signature vectors (3 items)', () => {
    expect(signature('AAAAA', '1714037059', '486452656')).toBe('899cf89e464efb63f54ddac96b0a0a235f53aa78');
    expect(signature('AAAAA', '1714036504', '1514711492')).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
    expect(verifySignature('899cf89e464efb63f54ddac96b0a0a235f53aa78', 'AAAAA', '1714037059', '486452656')).toBe(true);
    expect(verifySignature('F464B24FC39322E44B38AA78F5EDD27BD1441696', 'AAAAA', '1714036504', '1514711492')).toBe(true);
    expect(verifySignature('899cf89e464efb63f54ddac96b0a0a235f53aa78', 'AAAAA', '1714037059', '486452657')).toBe(false);
    expect(verifySignature('899cf89e464efb63f54ddac96b0a0a235f53aa78', 'AAAAB', '1714037059', '486452656')).toBe(false);
  });
});

describe('round trips and padding', () => {
  const bot = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: '' });

  it.each([
    ['empty', ''],
    ['ASCII', 'hello <xml> & "quotes"'],
    ['Chinese and emoji', '你好，世界！这是一条中文消息 🐱'],
    ['32 bytes', 'x'.repeat(32)],
    ['64 bytes', 'y'.repeat(64)],
  ])('%s plaintext round-trips for CorpID and empty receive ids', (_name, text) => {
    expect(crypto.decrypt(crypto.encrypt(text))).toBe(text);
    expect(bot.decrypt(bot.encrypt(text))).toBe(text);
    expect(crypto.encrypt(text)).not.toBe(crypto.encrypt(text)); // fresh random each time
  });

  it('pads with 1..32 bytes of value n for every message length', () => {
    for (let len = 0; len <= 80; len++) {
      const msg = 'a'.repeat(len);
      const enc = crypto.encrypt(msg);
      const raw = rawDecrypt(enc);
      const unpadded = 20 + len + CORP_ID.length;
      const n = 32 - (unpadded % 32);
      expect(raw.length).toBe(unpadded + n);
      expect(raw.subarray(unpadded).every((b) => b === n)).toBe(true);
      expect(raw.readUInt32BE(16)).toBe(len);
      expect(raw.subarray(20 + len, unpadded).toString()).toBe(CORP_ID);
      expect(crypto.decrypt(enc)).toBe(msg);
    }
  });

  it('a layout that is already a multiple of 32 gets a full block of 32 x 0x20', () => {
    const msg = 'z'.repeat(26); // 20 + 26 + 18 (corp id) = 64
    const raw = rawDecrypt(crypto.encrypt(msg));
    expect(raw.length).toBe(96);
    expect([...raw.subarray(64)]).toEqual(Array<number>(32).fill(0x20));
    expect(crypto.decrypt(rawEncrypt(raw))).toBe(msg);
    const botRaw = rawDecrypt(bot.encrypt('q'.repeat(12))); // 20 + 12 + 0 = 32
    expect(botRaw.length).toBe(64);
    expect(botRaw.subarray(32).every((b) => b === 32)).toBe(true);
  });

  it('one instance decrypts message after message, rejected ones in between, each as a fresh CBC decipher would', () => {
    const one = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: CORP_ID });
    const texts = ['first', '第二条消息', 'x'.repeat(100), '', 'last one 🐱'];
    const bad = [
      rawEncrypt(layout('hi', CORP_ID, Buffer.alloc(24, 7))), // wrong padding
      rawEncrypt(layout('hi', 'wx-some-other-app', Buffer.alloc(25, 25))), // another receive id
      'A'.repeat(44), // decodes to 33 bytes: not whole blocks
    ];
    texts.forEach((text, i) => {
      const enc = one.encrypt(text);
      expect(one.decrypt(enc)).toBe(text);
      expect(rawDecrypt(enc).subarray(20, 20 + Buffer.byteLength(text)).toString()).toBe(text);
      expectCoco(() => one.decrypt(bad[i % bad.length]!));
    });
    // The published vector still decrypts after all of that.
    expect(one.decrypt(ECHOSTR)).toBe(crypto.decrypt(ECHOSTR));
  });

  it('accepts a hand-built ciphertext with correct padding (control for the padding tests below)', () => {
    const body = layout('hi', CORP_ID, Buffer.alloc(0)); // 40 bytes -> pad 24
    expect(crypto.decrypt(rawEncrypt(Buffer.concat([body, Buffer.alloc(24, 24)])))).toBe('hi');
  });
});

describe('rejections', () => {
  it('rejects a message for another receive id', () => {
    const other = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: 'wx0000000000000000' });
    const bot = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: '' });
    expectCoco(() => other.decrypt(crypto.encrypt('hello')));
    expectCoco(() => bot.decrypt(crypto.encrypt('hello')));
    expectCoco(() => crypto.decrypt(bot.encrypt('hello')));
    expectCoco(() => other.decrypt(ECHOSTR));
  });

  it('rejects a flipped byte in the last block, and any flip anywhere never yields the original nor a non-CocoError', () => {
    const msg = '<xml><Content>hello world</Content></xml>';
    const data = Buffer.from(crypto.encrypt(msg, Buffer.from('1234567890123456')), 'base64');
    const flip = (i: number) => {
      const copy = Buffer.from(data);
      copy[i] = (copy[i] ?? 0) ^ 0x01;
      return copy.toString('base64');
    };
    expectCoco(() => crypto.decrypt(flip(data.length - 1)));
    expectCoco(() => crypto.decrypt(flip(data.length - 20)));
    for (let i = 0; i < data.length; i++) {
      try {
        expect(crypto.decrypt(flip(i))).not.toBe(msg);
      } catch (err) {
        expect(err).toBeInstanceOf(CocoError);
        expect((err as CocoError).code).toBe('COCO_ERR_REQUEST_INVALID');
      }
    }
  });

  it('decryptVerified rejects any tampered Encrypt by signature before decrypting', () => {
    const enc = crypto.encrypt('hello');
    const msgSignature = signature(TOKEN, '1', '2', enc);
    expect(crypto.decryptVerified({ msgSignature, timestamp: '1', nonce: '2', encrypt: enc })).toBe('hello');
    const tampered = `${enc[0] === 'A' ? 'B' : 'A'}${enc.slice(1)}`;
    expectCoco(() => crypto.decryptVerified({ msgSignature, timestamp: '1', nonce: '2', encrypt: tampered }));
    expectCoco(() => crypto.decryptVerified({ msgSignature: 'nothex', timestamp: '1', nonce: '2', encrypt: enc }));
  });

  it.each([0, 33, 255])('rejects a padding value of %i', (n) => {
    const body = layout('hi', CORP_ID, Buffer.alloc(23, 24)); // 63 bytes; the 64th is the bad pad byte
    expectCoco(() => crypto.decrypt(rawEncrypt(Buffer.concat([body, Buffer.from([n])]))));
  });

  it('rejects pad values 0 and 33 even when every other check would pass (empty receive id)', () => {
    const bot = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: '' });
    // n = 33: 20 + 11 + 0 + 33 = 64, all 33 pad bytes equal 33
    expectCoco(() => bot.decrypt(rawEncrypt(layout('h'.repeat(11), '', Buffer.alloc(33, 33)))));
    // n = 0: 20 + 44 = 64, the message itself ends in a 0x00 byte
    expectCoco(() => bot.decrypt(rawEncrypt(layout(`${'h'.repeat(43)}\0`, '', Buffer.alloc(0)))));
    // control: the same shapes with a valid pad are accepted
    expect(bot.decrypt(rawEncrypt(layout('h'.repeat(12), '', Buffer.alloc(32, 32))))).toBe('h'.repeat(12));
  });

  it('rejects padding whose bytes are not all equal to n', () => {
    const body = layout('hi', CORP_ID, Buffer.alloc(0));
    const pad = Buffer.alloc(24, 24);
    pad[0] = 0;
    expectCoco(() => crypto.decrypt(rawEncrypt(Buffer.concat([body, pad]))));
  });

  it('rejects a length field that does not fit', () => {
    const body = layout('hi', CORP_ID, Buffer.alloc(24, 24));
    body.writeUInt32BE(1000, 16);
    expectCoco(() => crypto.decrypt(rawEncrypt(body)));
    body.writeUInt32BE(0xffffffff, 16);
    expectCoco(() => crypto.decrypt(rawEncrypt(body)));
    // with an empty receive id the receive-id check can't catch it; the length check must
    const bot = new TencentCrypto({ token: TOKEN, encodingAesKey: KEY, receiveId: '' });
    const botBody = layout('h'.repeat(12), '', Buffer.alloc(32, 32));
    expect(bot.decrypt(rawEncrypt(botBody))).toBe('h'.repeat(12));
    botBody.writeUInt32BE(13, 16);
    expectCoco(() => bot.decrypt(rawEncrypt(botBody)));
  });

  it('rejects a body shorter than the 20-byte header', () => {
    expectCoco(() => crypto.decrypt(rawEncrypt(Buffer.concat([Buffer.alloc(16, 1), Buffer.alloc(16, 16)]))));
  });

  it('rejects a message that is not valid UTF-8', () => {
    const body = layout('hi', CORP_ID, Buffer.alloc(24, 24));
    body[20] = 0xff;
    expectCoco(() => crypto.decrypt(rawEncrypt(body)));
  });

  it.each([
    ['truncated by 4 chars', ECHOSTR.slice(0, -4)],
    ['truncated by 1 char', ECHOSTR.slice(0, -1)],
    ['one AES block only', rawEncrypt(Buffer.alloc(16, 16))],
    ['empty', ''],
    ['non-base64', `${ECHOSTR.slice(0, 10)}*${ECHOSTR.slice(11)}`],
    ['whitespace inside', `${ECHOSTR.slice(0, 10)} ${ECHOSTR.slice(10)}`],
  ])('rejects base64 that is %s', (_name, input) => {
    expectCoco(() => crypto.decrypt(input));
  });

  it.each([
    ['42 chars', KEY.slice(0, 42)],
    ['44 chars', `${KEY}A`],
    ['non-base64', `${KEY.slice(0, 42)}*`],
    ['empty', ''],
  ])('a %s key is a config error naming encoding_aes_key', (_name, key) => {
    const err = expectCoco(() => new TencentCrypto({ token: TOKEN, encodingAesKey: key, receiveId: CORP_ID }), 'COCO_ERR_CONFIG_INVALID');
    expect(err.field).toBe('encoding_aes_key');
    expect(err.message).toContain('encoding_aes_key');
  });

  it('an empty token is a config error naming token', () => {
    const err = expectCoco(() => new TencentCrypto({ token: '', encodingAesKey: KEY, receiveId: CORP_ID }), 'COCO_ERR_CONFIG_INVALID');
    expect(err.field).toBe('token');
  });

  it('verifySignature is false (not a throw) for malformed signatures', () => {
    const good = '899cf89e464efb63f54ddac96b0a0a235f53aa78';
    expect(verifySignature(good, 'AAAAA', '1714037059', '486452656')).toBe(true);
    for (const bad of ['', good.slice(0, 39), `${good}0`, `${good.slice(0, 39)}g`, `${good.slice(0, 38)}==`, ` ${good.slice(1)}`]) {
      expect(verifySignature(bad, 'AAAAA', '1714037059', '486452656')).toBe(false);
    }
    expect(verifySignature(undefined as unknown as string, 'AAAAA', '1714037059', '486452656')).toBe(false);
    expect(verifySignature(good, 'AAAAA', undefined as unknown as string, '486452656')).toBe(false);
  });

  it('encrypt refuses a random prefix that is not 16 bytes', () => {
    expectCoco(() => crypto.encrypt('x', Buffer.alloc(15)), 'COCO_ERR_INTERNAL');
  });
});

describe('wrapReply', () => {
  it('produces an envelope whose signature verifies and whose Encrypt decrypts back', () => {
    const xml = crypto.wrapReply('<xml><Content><![CDATA[回复]]></Content></xml>', '1700000000', 'abc');
    const enc = /<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]><\/Encrypt>/.exec(xml)?.[1] ?? '';
    const sig = /<MsgSignature><!\[CDATA\[([0-9a-f]{40})\]\]><\/MsgSignature>/.exec(xml)?.[1] ?? '';
    expect(crypto.decryptVerified({ msgSignature: sig, timestamp: '1700000000', nonce: 'abc', encrypt: enc })).toBe('<xml><Content><![CDATA[回复]]></Content></xml>');
    expect(xml).toContain('<TimeStamp>1700000000</TimeStamp><Nonce><![CDATA[abc]]></Nonce></xml>');
  });

  it('keeps a "]]>" in the nonce and markup in the timestamp from breaking out of the envelope', () => {
    const xml = crypto.wrapReply('x', '1<a>&', 'n]]><evil/>', Buffer.from('1234567890123456'));
    expect(xml).toContain('<Nonce><![CDATA[n]]]]><![CDATA[><evil/>]]></Nonce>');
    expect(xml).toContain('<TimeStamp>1&lt;a&gt;&amp;</TimeStamp>');
    expect(xml).not.toContain('<a>');
  });
});
