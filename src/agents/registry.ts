import type { Agent, AgentDeps } from './agent.js';
import type { AgentProfile } from '../config/schema.js';
import { CocoError } from '../core/errors.js';
import { EchoAgent } from './echo/echo-agent.js';
import { HttpAgent } from './http/http-agent.js';
import { OpenAIAgent } from './openai/openai-agent.js';

export const agentProviders = ['echo', 'openai', 'http'] as const;
export type AgentProvider = (typeof agentProviders)[number];

/** Builds the agent a profile describes. Throws a CocoError when the profile cannot work (no API key). */
export function createAgent(profile: AgentProfile, deps: AgentDeps): Agent {
  switch (profile.provider) {
    case 'echo':
      return new EchoAgent(profile, deps);
    case 'openai':
      return new OpenAIAgent(profile, deps);
    case 'http':
      return new HttpAgent(profile, deps);
    default: {
      // Exhaustive: a new provider in the schema fails to compile here until it is handled.
      const unknown: never = profile;
      throw new CocoError('COCO_ERR_AGENT_UNKNOWN', `unknown agent provider ${JSON.stringify((unknown as { provider?: unknown }).provider)}`);
    }
  }
}
