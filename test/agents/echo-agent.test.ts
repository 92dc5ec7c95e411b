import { describe, expect, it } from 'vitest';
import { createAgent, agentProviders } from '../../src/agents/index.js';
import { agentProfileSchema, echoProfileSchema } from '../../src/config/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { isCocoError } from '../../src/core/errors.js';
import { makeDeps, makeMessage, makeRequest, withSignal } from './helpers.js';

describe('echo agent', () => {
  it('replies with the prefix and the message content as text', async () => {
    const profile = echoProfileSchema.parse({ provider: 'echo', prefix: 'echo: ' });
    const agent = createAgent(profile, makeDeps(systemClock));
    const reply = await agent.run(withSignal(makeRequest({ message: makeMessage({ content: 'ping' }) })));
    expect(reply).toEqual({ text: 'echo: ping', format: 'text' });
    expect(agent.provider).toBe('echo');
  });
});

describe('createAgent', () => {
  it('builds an agent for every provider', () => {
    const deps = makeDeps(systemClock);
    const profiles = {
      echo: { provider: 'echo' },
      openai: { provider: 'openai', model: 'm', api_key: 'sk-x' },
      http: { provider: 'http', url: 'http://127.0.0.1:1/agent' },
    };
    for (const provider of agentProviders) {
      const agent = createAgent(agentProfileSchema.parse(profiles[provider]), deps);
      expect(agent.provider).toBe(provider);
    }
  });

  it('rejects an openai profile without any API key, naming api_key and OPENAI_API_KEY', () => {
    const profile = agentProfileSchema.parse({ provider: 'openai', model: 'gpt-4o-mini' });
    let caught: unknown;
    try {
      createAgent(profile, makeDeps(systemClock, {}));
    } catch (err) {
      caught = err;
    }
    expect(isCocoError(caught, 'COCO_ERR_CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).toMatch(/"api_key"/);
    expect((caught as Error).message).toMatch(/OPENAI_API_KEY/);
  });
});
