import { CocoError } from '../../core/errors.js';
import { TencentCrypto, verifySignature } from '../shared/tencent-crypto.js';
import type { WechatMpChannelConfig } from './config.js';
import { parseWechatXml, type WechatFields } from './parse.js';

/** The query WeChat puts on every request to the developer server. */
export interface WechatQuery {
  signature?: string;
  timestamp?: string;
  nonce?: string;
  echostr?: string;
  openid?: string;
  encrypt_type?: string;
  msg_signature?: string;
}

type Settings = Pick<WechatMpChannelConfig, 'token' | 'app_id' | 'encoding_aes_key' | 'mode' | 'timestamp_window_seconds'>;

function unauthorized(message: string): CocoError {
  return new CocoError('COCO_ERR_UNAUTHORIZED', message, { statusCode: 401, channel: 'wechat_mp' });
}

/** Signed by our token, and recent: a replayed old request is refused even with a valid signature. */
function checkSigned(query: WechatQuery, config: Settings, nowMs: number): { timestamp: string; nonce: string } {
  const { signature, timestamp, nonce } = query;
  if (!signature || !timestamp || !nonce) throw unauthorized('signature, timestamp and nonce are required');
  const seconds = Number(timestamp);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowMs / 1000 - seconds) > config.timestamp_window_seconds) {
    throw unauthorized(`timestamp ${timestamp} is outside the ${config.timestamp_window_seconds} s window`);
  }
  if (!verifySignature(signature, config.token, timestamp, nonce)) throw unauthorized('signature does not match the configured token');
  return { timestamp, nonce };
}

/** GET URL verification (服务器配置 → 提交): answers the echostr when the request is signed with our token. */
export function verifyUrl(query: WechatQuery, config: Settings, nowMs: number): string {
  checkSigned(query, config, nowMs);
  if (!query.echostr) throw new CocoError('COCO_ERR_REQUEST_INVALID', 'echostr: is missing', { statusCode: 400, field: 'echostr' });
  return query.echostr;
}

export interface OpenedRequest {
  fields: WechatFields;
  /** Whether the request came encrypted: a passive reply must then be encrypted too. */
  encrypted: boolean;
  timestamp: string;
  nonce: string;
}

/**
 * Verifies and opens a message POST: the plain signature always, and in compatible/safe mode the
 * msg_signature over the Encrypt value, then decrypts and checks the AppID inside. Safe mode refuses
 * unencrypted requests, so nobody can downgrade to plain text.
 */
export function openRequest(query: WechatQuery, body: string, config: Settings, crypto: TencentCrypto | undefined, nowMs: number): OpenedRequest {
  const { timestamp, nonce } = checkSigned(query, config, nowMs);
  const outer = parseWechatXml(body);
  const encrypted = query.encrypt_type === 'aes';
  if (!encrypted) {
    if (config.mode === 'safe') throw unauthorized('unencrypted request refused: the entry is in safe mode');
    return { fields: outer, encrypted: false, timestamp, nonce };
  }
  if (!crypto) throw unauthorized('encrypted request but no encoding_aes_key is configured');
  const encrypt = outer.Encrypt;
  if (!encrypt) throw new CocoError('COCO_ERR_REQUEST_INVALID', 'Encrypt: is missing', { statusCode: 400, field: 'Encrypt' });
  if (!query.msg_signature || !crypto.verify(query.msg_signature, timestamp, nonce, encrypt)) {
    throw unauthorized('msg_signature does not match the configured token');
  }
  // Decryption checks the AppID at the end of the plaintext (a message for another account is refused).
  return { fields: parseWechatXml(crypto.decrypt(encrypt)), encrypted: true, timestamp, nonce };
}
