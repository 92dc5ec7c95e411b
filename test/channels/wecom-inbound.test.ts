import { describe, expect, it } from 'vitest';
import { signature, TencentCrypto } from '../../src/channels/shared/tencent-crypto.js';
import { MAX_XML_BYTES, parseTencentXml } from '../../src/channels/shared/tencent-xml.js';
import { parseWechatXml } from '../../src/channels/wechat-mp/parse.js';
import { wecomConfigSchema } from '../../src/channels/wecom/config.js';
import { parseWecomXml, toChatMessage, WELCOME_EVENTS } from '../../src/channels/wecom/parse.js';
import { createWecomCrypto, openRequest, verifyUrl } from '../../src/channels/wecom/verify.js';
import { isCocoError } from '../../src/core/errors.js';

// Published WeCom vectors (wechatpy tests/test_crypto.py): token, EncodingAESKey and CorpID.
const TOKEN = '123456';
const AES_KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
const CORP_ID = 'wx49f0ab532d5d035a';
const ECHOSTR = '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==';
const VERIFY = { msg_signature: 'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96', timestamp: '1411443780', nonce: '437374425', echostr: ECHOSTR };
const PUSH_ENCRYPT =
  'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=';
const PUSH = { msg_signature: '74d92dfeb87ba7c714f89d98870ae5eb62dff26d', timestamp: '1411525903', nonce: '461056294' };
const envelope = (encrypt: string) =>
  `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><AgentID><![CDATA[1]]></AgentID><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;

const config = wecomConfigSchema.parse({ corp_id: CORP_ID, agent_id: 1, secret: 'app-secret-0123456789', token: TOKEN, encoding_aes_key: AES_KEY });
const crypto = createWecomCrypto(config);
const at = (seconds: string) => Number(seconds) * 1000;

function failure(fn: () => unknown): { status?: number; code?: string; field?: string; channel?: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isCocoError(err)) return { status: err.statusCode, code: err.code, field: err.field, channel: err.channel, message: err.message };
    throw err;
  }
  throw new Error('expected a CocoError');
}

/** A message signed now with the entry's token, as WeCom sends it. */
function signedNow(plaintext: string, sender: TencentCrypto = crypto) {
  const encrypt = sender.encrypt(plaintext);
  const timestamp = String(Math.floor(Date.now() / 1000));
  return { query: { msg_signature: signature(TOKEN, timestamp, '1234567', encrypt), timestamp, nonce: '1234567' }, body: envelope(encrypt), encrypt };
}

const textXml = (content: string, extra = '<MsgId>7300000000000000123</MsgId><AgentID>1</AgentID>') =>
  `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content>${extra}</xml>`;

describe('wecom URL verification (GET)', () => {
  it('answers the published echostr vector with its decrypted plaintext', () => {
    expect(verifyUrl(VERIFY, crypto, config, at(VERIFY.timestamp))).toBe('5927782489442352469');
  });

  it('round-trips an echostr encrypted with the known key for this CorpID, also when a "+" arrived as a space', () => {
    const echostr = crypto.encrypt('1616140317555161061', Buffer.from('abcdefghijklmnop'));
    expect(echostr).toContain('+'); // the fixed random bytes give a ciphertext with a '+', the case that breaks unencoded
    const timestamp = String(Math.floor(Date.now() / 1000));
    const query = { msg_signature: signature(TOKEN, timestamp, '99', echostr), timestamp, nonce: '99', echostr };
    expect(verifyUrl(query, crypto, config, Date.now())).toBe('1616140317555161061');
    expect(verifyUrl({ ...query, echostr: echostr.replaceAll('+', ' ') }, crypto, config, Date.now())).toBe('1616140317555161061');
  });

  it('refuses another nonce (401 msg_signature), a stale timestamp (401 timestamp) and missing parameters (naming each)', () => {
    expect(failure(() => verifyUrl({ ...VERIFY, nonce: '437374424' }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({
      status: 401,
      code: 'COCO_ERR_UNAUTHORIZED',
      field: 'msg_signature',
      channel: 'wecom',
    });
    expect(failure(() => verifyUrl(VERIFY, crypto, config, at(VERIFY.timestamp) + 301_000))).toMatchObject({ status: 401, field: 'timestamp' });
    expect(verifyUrl(VERIFY, crypto, config, at(VERIFY.timestamp) - 299_000)).toBe('5927782489442352469');
    const { echostr: _e, ...noEcho } = VERIFY;
    expect(failure(() => verifyUrl(noEcho, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 400, field: 'echostr' });
    expect(failure(() => verifyUrl({ ...VERIFY, msg_signature: '' }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 401, field: 'msg_signature' });
    expect(failure(() => verifyUrl({ ...VERIFY, timestamp: undefined }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 400, field: 'timestamp' });
    expect(failure(() => verifyUrl({ ...VERIFY, timestamp: '14114437.80' }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 400, field: 'timestamp' });
    expect(failure(() => verifyUrl({ ...VERIFY, nonce: undefined }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 400, field: 'nonce' });
    expect(failure(() => verifyUrl({ ...VERIFY, nonce: ['1', '2'] }, crypto, config, at(VERIFY.timestamp)))).toMatchObject({ status: 400, field: 'nonce' });
  });

  it('refuses a correctly signed echostr encrypted for another CorpID, saying so', () => {
    const foreign = new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: 'ww0000000000000000' });
    const echostr = foreign.encrypt('12345');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const err = failure(() => verifyUrl({ msg_signature: signature(TOKEN, timestamp, '1', echostr), timestamp, nonce: '1', echostr }, crypto, config, Date.now()));
    expect(err).toMatchObject({ status: 400, code: 'COCO_ERR_REQUEST_INVALID', field: 'echostr' });
    expect(err.message).toBe(`echostr: is encrypted for another CorpID, not ${CORP_ID}`);
  });
});

describe('wecom message push (POST)', () => {
  it('opens the published push vector: signature over Encrypt, CorpID inside, fields decoded', () => {
    const opened = openRequest(PUSH, envelope(PUSH_ENCRYPT), crypto, config, at(PUSH.timestamp));
    expect(opened.fields).toEqual({
      ToUserName: CORP_ID,
      FromUserName: 'messense',
      CreateTime: '1411525903',
      MsgType: 'text',
      Content: 'test',
      MsgId: '4363689963896700987',
      AgentID: '1',
    });
    expect(opened.envelope).toEqual({ ToUserName: CORP_ID, AgentID: '1' });
    expect(toChatMessage(opened.fields, config)).toMatchObject({
      dedupKey: '4363689963896700987',
      message: { channelType: 'wecom', userId: 'messense', conversationId: 'messense', msgId: '4363689963896700987', content: 'test', timestamp: 1411525903000 },
    });
  });

  it('refuses a forged msg_signature (401), a replay outside the window (401) and a foreign CorpID (400)', () => {
    const forged = { ...PUSH, msg_signature: signature('654321', PUSH.timestamp, PUSH.nonce, PUSH_ENCRYPT) };
    expect(failure(() => openRequest(forged, envelope(PUSH_ENCRYPT), crypto, config, at(PUSH.timestamp)))).toMatchObject({ status: 401, field: 'msg_signature' });
    expect(failure(() => openRequest(PUSH, envelope(PUSH_ENCRYPT), crypto, config, Date.now()))).toMatchObject({ status: 401, field: 'timestamp' });
    const foreign = signedNow(textXml('hi'), new TencentCrypto({ token: TOKEN, encodingAesKey: AES_KEY, receiveId: 'ww0000000000000000' }));
    expect(failure(() => openRequest(foreign.query, foreign.body, crypto, config, Date.now()))).toMatchObject({
      status: 400,
      field: 'Encrypt',
      message: `Encrypt: is encrypted for another CorpID, not ${CORP_ID}`,
    });
  });

  it('names a wrong EncodingAESKey as the likely cause when a signed Encrypt does not decrypt', () => {
    const other = new TencentCrypto({ token: TOKEN, encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', receiveId: CORP_ID });
    const push = signedNow(textXml('hi'), other);
    const err = failure(() => openRequest(push.query, push.body, crypto, config, Date.now()));
    expect(err).toMatchObject({ status: 400, field: 'Encrypt' });
    expect(err.message).toMatch(/^Encrypt: .*\(check encoding_aes_key\)$/);
  });

  it('refuses malformed, oversize, unencrypted and DTD-carrying bodies before any crypto', () => {
    const { query } = signedNow(textXml('x'));
    expect(failure(() => openRequest(query, '<xml><Encrypt>abc', crypto, config, Date.now()))).toMatchObject({ status: 400, field: 'body' });
    expect(failure(() => openRequest(query, `<xml><Encrypt>${'A'.repeat(MAX_XML_BYTES)}</Encrypt></xml>`, crypto, config, Date.now()))).toMatchObject({
      status: 413,
      code: 'COCO_ERR_REQUEST_TOO_LARGE',
    });
    expect(failure(() => openRequest(query, textXml('plain'), crypto, config, Date.now()))).toMatchObject({ status: 400, field: 'Encrypt' });
    const dtd = '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>';
    expect(failure(() => openRequest(query, dtd, crypto, config, Date.now()))).toMatchObject({ status: 400, field: 'body', channel: 'wecom' });
  });

  it('opens a push encrypted now, with Chinese content and "]]>" inside', () => {
    const push = signedNow(textXml('你好 a]]]]><![CDATA[>b'));
    expect(openRequest(push.query, push.body, crypto, config, Date.now()).fields.Content).toBe('你好 a]]>b');
  });
});

describe('the shared Tencent XML reader', () => {
  it('is the one wechat_mp uses: same fields, errors marked with the calling channel', () => {
    const xml = textXml('hi');
    expect(parseWechatXml(xml)).toEqual(parseTencentXml(xml));
    expect(parseWecomXml(xml)).toEqual(parseTencentXml(xml));
    expect(failure(() => parseWechatXml('<root/>')).channel).toBe('wechat_mp');
    expect(failure(() => parseWecomXml('<root/>')).channel).toBe('wecom');
  });

  it('keeps fields named like Object.prototype members, and drops repeated and nested ones', () => {
    expect(parseTencentXml('<xml><constructor>1</constructor><toString>2</toString><A>1</A><A>2</A><B><C>x</C></B></xml>')).toEqual({ constructor: '1', toString: '2' });
  });

  it('honours a smaller size cap', () => {
    expect(failure(() => parseTencentXml('<xml><A>12345</A></xml>', { maxBytes: 10 }))).toMatchObject({ status: 413 });
  });
});

describe('wecom message mapping', () => {
  const fields = (extra: Record<string, string>) => ({ ToUserName: CORP_ID, FromUserName: 'zhangsan', CreateTime: '1714037059', AgentID: '1', MsgId: '7300000000000000123', ...extra });

  it('maps text, image, voice, video, location and link; keeps the 64-bit MsgId exact', () => {
    expect(toChatMessage(fields({ MsgType: 'text', Content: '你好' }), config)).toEqual({
      dedupKey: '7300000000000000123',
      message: {
        channelType: 'wecom',
        userId: 'zhangsan',
        conversationId: 'zhangsan',
        timestamp: 1714037059000,
        isGroup: false,
        mentionsBot: true,
        raw: fields({ MsgType: 'text', Content: '你好' }),
        msgType: 'text',
        msgId: '7300000000000000123',
        content: '你好',
      },
    });
    expect(toChatMessage(fields({ MsgType: 'image', PicUrl: 'https://p/1', MediaId: 'm-img' }), config).message).toMatchObject({
      msgType: 'image',
      content: '[image]',
      media: [{ kind: 'image', ref: 'm-img' }],
    });
    expect(toChatMessage(fields({ MsgType: 'voice', MediaId: 'm-v', Format: 'amr' }), config).message).toMatchObject({
      msgType: 'voice',
      content: '[voice message (amr)]',
      media: [{ kind: 'voice', ref: 'm-v' }],
    });
    expect(toChatMessage(fields({ MsgType: 'video', MediaId: 'm-vid', ThumbMediaId: 't' }), config).message).toMatchObject({
      msgType: 'video',
      media: [{ kind: 'video', ref: 'm-vid' }],
    });
    expect(toChatMessage(fields({ MsgType: 'location', Location_X: '23.134521', Location_Y: '113.358803', Scale: '15', Label: '广州市天河区' }), config).message.content).toBe(
      '[location] 广州市天河区 (23.134521, 113.358803)',
    );
    expect(toChatMessage(fields({ MsgType: 'link', Title: '标题', Description: '描述', Url: 'https://example.com/a', PicUrl: '' }), config).message.content).toBe(
      '[link] 标题 描述 https://example.com/a',
    );
    expect(toChatMessage(fields({ MsgType: 'miniprogram' }), config).message).toMatchObject({ msgType: 'text', content: '[miniprogram message]' });
  });

  it('keys events by user, CreateTime and event name, so two events of one second stay apart', () => {
    const { MsgId: _m, ...event } = fields({ MsgType: 'event', Event: 'enter_agent', EventKey: '' });
    const enter = toChatMessage(event, config);
    expect(enter).toMatchObject({ event: 'enter_agent', dedupKey: 'zhangsan:1714037059:enter_agent', message: { msgType: 'event', content: '[event enter_agent]' } });
    expect(enter.eventKey).toBeUndefined();
    const click = toChatMessage({ ...event, Event: 'click', EventKey: 'MENU_HELP' }, config);
    expect(click).toMatchObject({ event: 'click', eventKey: 'MENU_HELP', dedupKey: 'zhangsan:1714037059:click', message: { content: '[event click MENU_HELP]' } });
    expect(toChatMessage({ ...event, Event: 'LOCATION' }, config).event).toBe('location');
    expect([...WELCOME_EVENTS].sort()).toEqual(['enter_agent', 'subscribe']);
  });

  it('refuses a push for another app (AgentID) or another company (ToUserName), naming the field', () => {
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', Content: 'x', AgentID: '1000003' }), config))).toMatchObject({
      status: 400,
      field: 'AgentID',
      message: "AgentID: 1000003 is not this entry's agent_id 1: the push is for another app",
    });
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', Content: 'x', ToUserName: 'ww1111111111111111' }), config))).toMatchObject({ field: 'ToUserName' });
    const { AgentID: _a, ...noAgent } = fields({ MsgType: 'text', Content: 'x' });
    expect(failure(() => toChatMessage(noAgent, config))).toMatchObject({ field: 'AgentID', message: 'AgentID: is missing' });
    // Company-wide events come without an AgentID and pass.
    const { AgentID: _b, MsgId: _c, ...contact } = fields({ MsgType: 'event', Event: 'change_contact' });
    expect(toChatMessage(contact, config).event).toBe('change_contact');
  });

  it('names malformed fields', () => {
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', MsgId: '73e5' }), config))).toMatchObject({ field: 'MsgId' });
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', MsgId: '' }), config))).toMatchObject({ field: 'MsgId', message: 'MsgId: is missing' });
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', CreateTime: '-1' }), config))).toMatchObject({ field: 'CreateTime' });
    expect(failure(() => toChatMessage(fields({ MsgType: 'text', FromUserName: '' }), config))).toMatchObject({ field: 'FromUserName' });
    expect(failure(() => toChatMessage(fields({ MsgType: 'event' }), config))).toMatchObject({ field: 'Event' });
    expect(failure(() => toChatMessage(fields({}), config))).toMatchObject({ field: 'MsgType' });
  });
});
