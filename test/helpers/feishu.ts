import type { FakeFeishu } from '../fakes/feishu/index.js';

/**
 * The config of a feishu entry on a fake app: over its long connection, or, with `webhookKey`, over
 * a webhook whose events the fake encrypts with that key. A short ping timeout lets tests see a dead
 * connection quickly.
 */
export function feishuEntryConfig(fake: FakeFeishu, webhookKey?: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    app_id: fake.appId,
    app_secret: fake.appSecret,
    domain: fake.url,
    ping_timeout_seconds: 3,
    ...(webhookKey === undefined ? {} : { connection: 'webhook', encrypt_key: webhookKey, verification_token: fake.verificationToken }),
    ...extra,
  };
}
