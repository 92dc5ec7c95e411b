import type { AgentDeps, AgentRequest } from '../../src/agents/agent.js';
import type { Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ChatMessage } from '../../src/core/message.js';

export { captureLogger } from '../helpers/logs.js';

export function makeMessage(overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    channelType: 'web_api',
    sceneId: 'support',
    userId: 'u-1',
    conversationId: 'c-1',
    content: 'hello there',
    msgType: 'text',
    msgId: 'm-1',
    timestamp: 1_767_225_600_000,
    isGroup: false,
    mentionsBot: true,
    ...overrides,
  };
}

export function makeRequest(overrides: Partial<Omit<AgentRequest, 'signal'>> = {}): Omit<AgentRequest, 'signal'> {
  return { agentId: 'support', message: makeMessage(), history: [], ...overrides };
}

/** A request for calling `agent.run` directly. */
export function withSignal(request: Omit<AgentRequest, 'signal'>, signal = new AbortController().signal): AgentRequest {
  return { ...request, signal };
}

export function makeDeps(clock: Clock, env: Record<string, string | undefined> = {}): AgentDeps {
  return { clock, log: silentLogger(), env };
}
