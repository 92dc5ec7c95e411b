import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { feishuBaseUrl, feishuConfigSchema } from '../../src/channels/feishu/config.js';

const base = { app_id: 'cli_a1b2c3d4e5f60718', app_secret: 'AbCdEfGhIjKlMnOpQrStUvWxYz012345' };

function issues(input: unknown): { path: string; message: string }[] {
  const result = feishuConfigSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('feishu config', () => {
  it('fills the defaults: long connection, Feishu cloud, answer groups on mention', () => {
    expect(feishuConfigSchema.parse(base)).toEqual({
      ...base,
      connection: 'websocket',
      domain: 'feishu',
      group_policy: 'mention',
      show_typing: true,
      show_preview: true,
      ping_timeout_seconds: 30,
      reconnect_max_delay_seconds: 60,
      request_timeout_ms: 15_000,
    });
  });

  it('refuses an app_id that is not cli_ + 16 hex digits, naming the field', () => {
    expect(issues({ ...base, app_id: 'cli_123' })).toEqual([{ path: 'app_id', message: expect.stringContaining('cli_ followed by 16 hex digits') }]);
    expect(issues({ ...base, app_id: 'wx0123456789abcdef' })[0]?.path).toBe('app_id');
    expect(issues({ ...base, app_id: 'cli_A1B2C3D4E5F60718' })).toEqual([]);
  });

  it('requires verification_token in webhook mode only', () => {
    expect(issues({ ...base, connection: 'webhook' })).toEqual([{ path: 'verification_token', message: 'is required in webhook mode' }]);
    expect(issues({ ...base, connection: 'webhook', verification_token: 'v-token' })).toEqual([]);
    expect(issues({ ...base, connection: 'websocket' })).toEqual([]);
  });

  it('accepts feishu, lark or an http(s) URL as domain, and resolves each to a base URL', () => {
    expect(feishuBaseUrl(feishuConfigSchema.parse(base).domain)).toBe('https://open.feishu.cn');
    expect(feishuBaseUrl(feishuConfigSchema.parse({ ...base, domain: 'lark' }).domain)).toBe('https://open.larksuite.com');
    expect(feishuBaseUrl(feishuConfigSchema.parse({ ...base, domain: 'http://127.0.0.1:4567/' }).domain)).toBe('http://127.0.0.1:4567');
    expect(issues({ ...base, domain: 'ftp://example.com' })).toEqual([{ path: 'domain', message: 'must be feishu, lark or an http(s) URL' }]);
    expect(issues({ ...base, domain: 'larksuite' })[0]?.path).toBe('domain');
  });

  it('refuses unknown fields and out-of-range knobs', () => {
    expect(issues({ ...base, app_key: 'x' })[0]?.message).toContain('app_key');
    expect(issues({ ...base, group_policy: 'everyone' })[0]?.path).toBe('group_policy');
    expect(issues({ ...base, ping_timeout_seconds: 1 })[0]?.path).toBe('ping_timeout_seconds');
    expect(issues({ ...base, reconnect_max_delay_seconds: 601 })[0]?.path).toBe('reconnect_max_delay_seconds');
  });

  it('shows typing by default; show_typing: false turns it off, and only a boolean is taken', () => {
    expect(feishuConfigSchema.parse({ ...base, show_typing: false }).show_typing).toBe(false);
    expect(issues({ ...base, show_typing: 'no' })).toEqual([{ path: 'show_typing', message: expect.any(String) }]);
  });

  it('marks the credentials write-only and explains every field', () => {
    const schema = z.toJSONSchema(feishuConfigSchema, { io: 'input', unrepresentable: 'any' }) as {
      properties: Record<string, { writeOnly?: boolean; description?: string }>;
      required?: string[];
    };
    const secrets = Object.entries(schema.properties)
      .filter(([, p]) => p.writeOnly)
      .map(([k]) => k)
      .sort();
    expect(secrets).toEqual(['app_secret', 'encrypt_key', 'verification_token']);
    for (const [field, prop] of Object.entries(schema.properties)) expect(prop.description, field).toMatch(/\w{3,}/);
    expect(schema.required?.sort()).toEqual(['app_id', 'app_secret']);
  });
});
