import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WECOM_BOT_WS_URL, wecomBotConfigSchema } from '../../src/channels/wecom-bot/config.js';
import { wecomApiBaseUrl, wecomConfigSchema } from '../../src/channels/wecom/config.js';

const app = {
  corp_id: 'ww1a2b3c4d5e6f7a8b',
  agent_id: 1000002,
  secret: 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg',
  token: 'Tok3n',
  encoding_aes_key: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
};
const bot = { bot_id: 'aibQ3xY7example', secret: 'bot-secret-value' };

function issues(schema: z.ZodType, input: unknown): { path: string; message: string }[] {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

function jsonSchema(schema: z.ZodType) {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, { writeOnly?: boolean; description?: string }>;
    required?: string[];
  };
}

describe('wecom (self-built app) config', () => {
  it('fills the defaults: public API, 5-minute window, pacing under the 30/min and 1000/h member limits, markdown on', () => {
    expect(wecomConfigSchema.parse(app)).toEqual({
      ...app,
      api_base_url: 'https://qyapi.weixin.qq.com',
      timestamp_window_seconds: 300,
      member_messages_per_minute: 28,
      member_messages_per_hour: 950,
      markdown: true,
      forward_events: false,
      request_timeout_ms: 15_000,
    });
  });

  it('names each bad credential field', () => {
    expect(issues(wecomConfigSchema, { ...app, corp_id: 'wx123' })).toEqual([{ path: 'corp_id', message: expect.stringContaining('企业ID') }]);
    expect(issues(wecomConfigSchema, { ...app, agent_id: '1000002' })[0]?.path).toBe('agent_id');
    expect(issues(wecomConfigSchema, { ...app, agent_id: 1.5 })[0]?.path).toBe('agent_id');
    expect(issues(wecomConfigSchema, { ...app, token: 'has space' })[0]?.path).toBe('token');
    expect(issues(wecomConfigSchema, { ...app, encoding_aes_key: app.encoding_aes_key.slice(1) })).toEqual([
      { path: 'encoding_aes_key', message: 'must be the 43-character EncodingAESKey from 设置API接收' },
    ]);
    expect(issues(wecomConfigSchema, { ...app, secret: 'short' })[0]?.path).toBe('secret');
    expect(issues(wecomConfigSchema, { ...app, api_base_url: 'ftp://x' })).toEqual([{ path: 'api_base_url', message: 'must be an http(s) URL' }]);
    expect(issues(wecomConfigSchema, { ...app, corpid: 'x' })[0]?.message).toContain('corpid');
  });

  it('caps pacing at what WeCom allows, so a config cannot ask for silent loss', () => {
    expect(issues(wecomConfigSchema, { ...app, member_messages_per_minute: 31 })[0]?.path).toBe('member_messages_per_minute');
    expect(issues(wecomConfigSchema, { ...app, member_messages_per_hour: 1001 })[0]?.path).toBe('member_messages_per_hour');
    expect(issues(wecomConfigSchema, { ...app, member_messages_per_minute: 30, member_messages_per_hour: 20 })).toEqual([
      { path: 'member_messages_per_hour', message: 'must be at least member_messages_per_minute' },
    ]);
  });

  it('keeps a welcome text within one message (2048 bytes)', () => {
    expect(issues(wecomConfigSchema, { ...app, welcome_text: '欢'.repeat(682) })).toEqual([]);
    expect(issues(wecomConfigSchema, { ...app, welcome_text: '欢'.repeat(683) })[0]?.path).toBe('welcome_text');
  });

  it('points at a fake through api_base_url, with or without a trailing slash', () => {
    expect(wecomApiBaseUrl(wecomConfigSchema.parse({ ...app, api_base_url: 'http://127.0.0.1:4567/' }))).toBe('http://127.0.0.1:4567');
    expect(wecomApiBaseUrl(wecomConfigSchema.parse(app))).toBe('https://qyapi.weixin.qq.com');
  });

  it('marks the secrets write-only and explains every field', () => {
    const schema = jsonSchema(wecomConfigSchema);
    const secrets = Object.entries(schema.properties)
      .filter(([, p]) => p.writeOnly)
      .map(([k]) => k)
      .sort();
    expect(secrets).toEqual(['encoding_aes_key', 'secret', 'token']);
    for (const [field, prop] of Object.entries(schema.properties)) expect(prop.description, field).toMatch(/\w{3,}/);
    expect(schema.properties.markdown?.description).toContain('WeChat');
    expect(schema.required?.sort()).toEqual(['agent_id', 'corp_id', 'encoding_aes_key', 'secret', 'token']);
  });
});

describe('wecom_bot (intelligent robot) config', () => {
  it('fills the defaults: the official address, answer groups on mention, "…" and the reply so far while the agent works, 30 s heartbeat like the SDK', () => {
    expect(wecomBotConfigSchema.parse(bot)).toEqual({
      ...bot,
      ws_url: WECOM_BOT_WS_URL,
      group_policy: 'mention',
      show_typing: true,
      show_preview: true,
      heartbeat_interval_seconds: 30,
      liveness_timeout_seconds: 75,
      reconnect_max_delay_seconds: 30,
    });
    expect(WECOM_BOT_WS_URL).toBe('wss://openws.work.weixin.qq.com');
  });

  it('takes a ws(s) URL for a fake, and names bad fields', () => {
    expect(wecomBotConfigSchema.parse({ ...bot, ws_url: 'ws://127.0.0.1:9999' }).ws_url).toBe('ws://127.0.0.1:9999');
    expect(issues(wecomBotConfigSchema, { ...bot, ws_url: 'https://x' })).toEqual([{ path: 'ws_url', message: 'must be a ws:// or wss:// URL' }]);
    expect(issues(wecomBotConfigSchema, { ...bot, bot_id: 'has space' })[0]?.path).toBe('bot_id');
    expect(issues(wecomBotConfigSchema, { ...bot, secret: '' })[0]?.path).toBe('secret');
    expect(issues(wecomBotConfigSchema, { ...bot, group_policy: 'everyone' })[0]?.path).toBe('group_policy');
    expect(issues(wecomBotConfigSchema, { ...bot, reconnect_max_delay_seconds: 0 })[0]?.path).toBe('reconnect_max_delay_seconds');
  });

  it('needs the liveness timeout to cover two heartbeats, so one lost answer is not a reconnect', () => {
    expect(issues(wecomBotConfigSchema, { ...bot, heartbeat_interval_seconds: 60 })).toEqual([
      { path: 'liveness_timeout_seconds', message: 'must be at least twice heartbeat_interval_seconds (120)' },
    ]);
    expect(issues(wecomBotConfigSchema, { ...bot, heartbeat_interval_seconds: 60, liveness_timeout_seconds: 120 })).toEqual([]);
  });

  it('marks the secret write-only and explains every field', () => {
    const schema = jsonSchema(wecomBotConfigSchema);
    expect(
      Object.entries(schema.properties)
        .filter(([, p]) => p.writeOnly)
        .map(([k]) => k),
    ).toEqual(['secret']);
    for (const [field, prop] of Object.entries(schema.properties)) expect(prop.description, field).toMatch(/\w{3,}/);
    expect(schema.required?.sort()).toEqual(['bot_id', 'secret']);
  });
});
