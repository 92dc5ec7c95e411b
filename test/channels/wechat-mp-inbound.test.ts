import { describe, expect, it } from 'vitest';
import { signature, TencentCrypto } from '../../src/channels/shared/tencent-crypto.js';
import { wechatMpConfigSchema } from '../../src/channels/wechat-mp/config.js';
import { MAX_BODY_BYTES, parseWechatXml, toChatMessage } from '../../src/channels/wechat-mp/parse.js';
import { textReplyXml } from '../../src/channels/wechat-mp/reply-xml.js';
import { openRequest, verifyUrl } from '../../src/channels/wechat-mp/verify.js';
import { isCocoError } from '../../src/core/errors.js';

const APP_ID = 'wx0123456789abcdef';
const AES_KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
const TOKEN = 'AAAAA';
const config = (mode: 'plain' | 'compatible' | 'safe') =>
  wechatMpConfigSchema.parse({ app_id: APP_ID, app_secret: 'secret-0123456789', token: TOKEN, encoding_aes_key: AES_KEY, mode });
const crypto = new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: APP_ID });

const textXml = (content: string, msgId = '23456789012345678') =>
  `<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${msgId}</MsgId></xml>`;

function signedQuery(timestamp: string, nonce: string, encrypt?: string) {
  return {
    signature: signature(TOKEN, timestamp, nonce),
    timestamp,
    nonce,
    openid: 'oUser1',
    ...(encrypt ? { encrypt_type: 'aes', msg_signature: signature(TOKEN, timestamp, nonce, encrypt) } : {}),
  };
}

function code(fn: () => unknown): { status?: number; code?: string } {
  try {
    fn();
  } catch (err) {
    if (isCocoError(err)) return { status: err.statusCode, code: err.code };
    throw err;
  }
  return {};
}

describe('wechat_mp request verification', () => {
  // The published vector: token AAAAA, timestamp 1714037059, nonce 486452656.
  const now = 1714037059 * 1000;

  it('answers the GET verification with the echostr for the published signature vector', () => {
    const query = { signature: '899cf89e464efb63f54ddac96b0a0a235f53aa78', timestamp: '1714037059', nonce: '486452656', echostr: 'hello-echo' };
    expect(verifyUrl(query, config('plain'), now)).toBe('hello-echo');
    expect(code(() => verifyUrl({ ...query, nonce: '486452657' }, config('plain'), now))).toEqual({ status: 401, code: 'COCO_ERR_UNAUTHORIZED' });
  });

  it('refuses a stale or future timestamp even with a valid signature', () => {
    const query = { signature: '899cf89e464efb63f54ddac96b0a0a235f53aa78', timestamp: '1714037059', nonce: '486452656', echostr: 'x' };
    expect(code(() => verifyUrl(query, config('plain'), now + 301_000))).toMatchObject({ status: 401 });
    expect(code(() => verifyUrl(query, config('plain'), now - 301_000))).toMatchObject({ status: 401 });
    expect(verifyUrl(query, config('plain'), now + 299_000)).toBe('x');
  });

  it('opens a plain POST, and refuses it in safe mode', () => {
    const opened = openRequest(signedQuery('1714037059', '486452656'), textXml('hi'), config('plain'), undefined, now);
    expect(opened).toMatchObject({ encrypted: false, fields: { Content: 'hi', FromUserName: 'oUser1', MsgId: '23456789012345678' } });
    expect(code(() => openRequest(signedQuery('1714037059', '486452656'), textXml('hi'), config('safe'), crypto, now))).toMatchObject({ status: 401 });
  });

  it('opens an encrypted POST in safe and compatible mode', () => {
    const encrypt = crypto.encrypt(textXml('你好'));
    const body = `<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    for (const mode of ['safe', 'compatible'] as const) {
      const opened = openRequest(signedQuery('1714037059', '486452656', encrypt), body, config(mode), crypto, now);
      expect(opened).toMatchObject({ encrypted: true, fields: { Content: '你好', MsgType: 'text' } });
    }
  });

  it('refuses a forged msg_signature (401) and a message encrypted for another AppID (400)', () => {
    const encrypt = crypto.encrypt(textXml('x'));
    const body = `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    const forged = { ...signedQuery('1714037059', '486452656', encrypt), msg_signature: signature('other', '1714037059', '486452656', encrypt) };
    expect(code(() => openRequest(forged, body, config('safe'), crypto, now))).toEqual({ status: 401, code: 'COCO_ERR_UNAUTHORIZED' });
    const foreign = new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: 'wxffffffffffffffff' }).encrypt(textXml('x'));
    const foreignBody = `<xml><Encrypt><![CDATA[${foreign}]]></Encrypt></xml>`;
    expect(code(() => openRequest(signedQuery('1714037059', '486452656', foreign), foreignBody, config('safe'), crypto, now))).toEqual({
      status: 400,
      code: 'COCO_ERR_REQUEST_INVALID',
    });
  });
});

describe('wechat_mp XML parsing', () => {
  it('refuses DTDs, entity declarations, malformed XML, a missing root and oversize bodies', () => {
    const billionLaughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><Content>&lol2;</Content></xml>';
    expect(code(() => parseWechatXml(billionLaughs))).toEqual({ status: 400, code: 'COCO_ERR_REQUEST_INVALID' });
    expect(code(() => parseWechatXml('<xml><!ENTITY x SYSTEM "file:///etc/passwd"></xml>'))).toMatchObject({ status: 400 });
    expect(code(() => parseWechatXml('<xml><Content>unclosed</xml>'))).toMatchObject({ status: 400 });
    expect(code(() => parseWechatXml('<root><a>1</a></root>'))).toMatchObject({ status: 400 });
    expect(code(() => parseWechatXml('not xml at all'))).toMatchObject({ status: 400 });
    expect(code(() => parseWechatXml(`<xml><Content>${'x'.repeat(MAX_BODY_BYTES)}</Content></xml>`))).toEqual({ status: 413, code: 'COCO_ERR_REQUEST_TOO_LARGE' });
  });

  it('keeps CDATA content verbatim and decodes the predefined entities outside it', () => {
    expect(parseWechatXml('<xml><Content><![CDATA[a < b && c ]] d]]></Content><Title>x &amp; y</Title></xml>')).toEqual({ Content: 'a < b && c ]] d', Title: 'x & y' });
  });

  it('keeps only flat text fields: nested elements and repeated names are left out, whitespace between fields ignored', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <MsgType><![CDATA[event]]></MsgType>
  <Event>scancode_push</Event>
  <ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo>
  <Dup>1</Dup><Dup>2</Dup><Dup>3</Dup>
  <Split><![CDATA[a]]]]><![CDATA[>b]]>&#x4F60;</Split>
</xml>`;
    expect(parseWechatXml(xml)).toEqual({ MsgType: 'event', Event: 'scancode_push', Split: 'a]]>b你' });
    expect(code(() => parseWechatXml('<xml><a>1</a></xml><xml><a>2</a></xml>'))).toMatchObject({ status: 400 });
    expect(code(() => parseWechatXml('<xml><a>&nbsp;</a></xml>'))).toMatchObject({ status: 400 });
  });
});

describe('wechat_mp message mapping', () => {
  const fields = (extra: Record<string, string>) => ({ ToUserName: 'gh_abc', FromUserName: 'oUser1', CreateTime: '1714037059', MsgId: '123', ...extra });

  it('maps text, voice with recognition, image, location and link', () => {
    expect(toChatMessage(fields({ MsgType: 'text', Content: 'hi' }))).toMatchObject({ dedupKey: '123', message: { msgType: 'text', content: 'hi', userId: 'oUser1', conversationId: 'oUser1', msgId: '123', timestamp: 1714037059000, isGroup: false } });
    expect(toChatMessage(fields({ MsgType: 'voice', MediaId: 'm1', Recognition: '明天几点开门' })).message).toMatchObject({ msgType: 'voice', content: '明天几点开门', media: [{ kind: 'voice', ref: 'm1' }] });
    expect(toChatMessage(fields({ MsgType: 'voice', MediaId: 'm1' })).message.content).toBe('[voice message]');
    expect(toChatMessage(fields({ MsgType: 'image', MediaId: 'img1', PicUrl: 'http://p' })).message).toMatchObject({ msgType: 'image', media: [{ kind: 'image', ref: 'img1' }] });
    expect(toChatMessage(fields({ MsgType: 'location', Location_X: '23.1', Location_Y: '113.3', Label: 'Guangzhou' })).message.content).toBe('[location] Guangzhou (23.1, 113.3)');
    expect(toChatMessage(fields({ MsgType: 'link', Title: 'Docs', Url: 'https://x' })).message.content).toBe('[link] Docs https://x');
    expect(toChatMessage(fields({ MsgType: 'miniprogrampage' })).message.content).toBe('[miniprogrampage message]');
  });

  it('keys events by user and CreateTime, since they have no MsgId', () => {
    const { MsgId: _omit, ...event } = fields({ MsgType: 'event', Event: 'subscribe', EventKey: 'qrscene_42' });
    const parsed = toChatMessage(event);
    expect(parsed).toMatchObject({ event: 'subscribe', dedupKey: 'oUser1:1714037059', message: { msgType: 'event', content: '[event subscribe qrscene_42]' } });
  });

  it('names the missing field', () => {
    expect(code(() => toChatMessage({ MsgType: 'text', CreateTime: '1' }))).toMatchObject({ status: 400 });
    expect(() => toChatMessage(fields({ MsgType: 'text', MsgId: '' }))).toThrow(/MsgId: is missing/);
    expect(() => toChatMessage(fields({ MsgType: 'text', MsgId: '12a' }))).toThrow(/MsgId/);
  });
});

describe('wechat_mp passive reply XML', () => {
  it('round-trips, with "]]>" in the content kept intact', () => {
    const xml = textReplyXml({ toUser: 'oUser1', fromUser: 'gh_abc', createTime: 1714037060, content: 'code: a[b[0]]> end' });
    expect(parseWechatXml(xml)).toEqual({ ToUserName: 'oUser1', FromUserName: 'gh_abc', CreateTime: '1714037060', MsgType: 'text', Content: 'code: a[b[0]]> end' });
  });
});

describe('wechat_mp config', () => {
  it('requires the EncodingAESKey outside plain mode and names bad fields', () => {
    const base = { app_id: APP_ID, app_secret: 'secret-0123456789', token: TOKEN };
    expect(wechatMpConfigSchema.safeParse({ ...base, mode: 'plain' }).success).toBe(true);
    const safe = wechatMpConfigSchema.safeParse({ ...base, mode: 'safe' });
    expect(safe.success ? [] : safe.error.issues.map((i) => i.path.join('.'))).toEqual(['encoding_aes_key']);
    const bad = wechatMpConfigSchema.safeParse({ ...base, app_id: 'gh_123', token: 'a b', mode: 'plain' });
    expect(bad.success ? [] : bad.error.issues.map((i) => i.path.join('.'))).toEqual(['app_id', 'token']);
  });
});
