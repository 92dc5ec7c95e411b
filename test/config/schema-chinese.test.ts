import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { describeChannel } from '../../src/channels/define.js';
import { ChannelRegistry } from '../../src/channels/registry.js';
import { agentProfileSchema, sceneSchema } from '../../src/config/schema.js';

/**
 * The panel draws its forms from these JSON Schemas and shows them in Chinese from `x-i18n.zh`: a
 * field added without its Chinese label would show its raw name in a Chinese form. Every field the
 * panel draws (top-level properties of each branch) has a title there, and a Chinese help text
 * wherever it has an English one; every channel type has a Chinese description.
 */

type Json = { properties?: Record<string, Json>; anyOf?: Json[]; oneOf?: Json[]; description?: string; 'x-i18n'?: { zh?: { title?: string; description?: string } } };

const CHINESE = /[\u4e00-\u9fff]/;

function missingChinese(schema: Json, where: string): string[] {
  const branches = schema.anyOf ?? schema.oneOf ?? [schema];
  const missing: string[] = [];
  for (const branch of branches) {
    for (const [name, prop] of Object.entries(branch.properties ?? {})) {
      const zh = prop['x-i18n']?.zh;
      // A label may be the platform's own term, as its Chinese console writes it (AppID, Token, Bot ID).
      if (!zh?.title?.trim()) missing.push(`${where}.${name}: title`);
      if (prop.description !== undefined && !(zh?.description && CHINESE.test(zh.description))) missing.push(`${where}.${name}: description`);
    }
  }
  return missing;
}

const asJson = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;

describe('schemas in Chinese', () => {
  it('give every field of every channel form a Chinese label and help, and every channel a Chinese description', () => {
    const channels = new ChannelRegistry().all().map(describeChannel);
    expect(channels.length).toBeGreaterThanOrEqual(6);
    const missing = channels.flatMap((c) => [
      ...missingChinese(c.configSchema as Json, c.type),
      ...(CHINESE.test(c.translations.zh?.description ?? '') ? [] : [`${c.type}: description`]),
    ]);
    expect(missing).toEqual([]);
  });

  it('give every field of the agent profile (each provider) and of the scene a Chinese label and help', () => {
    const profile = asJson(agentProfileSchema);
    expect((profile.anyOf ?? profile.oneOf ?? []).length).toBe(3);
    expect([...missingChinese(profile, 'profile'), ...missingChinese(asJson(sceneSchema), 'scene')]).toEqual([]);
  });

  it('keep the English beside the Chinese, and a secret still marked secret', () => {
    const wecom = describeChannel(new ChannelRegistry().get('wecom'));
    const secret = (wecom.configSchema as { properties: Record<string, Record<string, unknown>> }).properties.secret!;
    expect(secret.description).toMatch(/^Secret of the app/);
    expect(secret['x-secret']).toBe(true);
    expect(secret['x-i18n']).toEqual({ zh: { title: expect.stringMatching(CHINESE), description: expect.stringMatching(CHINESE) } });
  });
});
