export type { Agent, AgentDeps, AgentFactory, AgentReply, AgentRequest, AgentTurn } from './agent.js';
export { EchoAgent, createEchoAgent } from './echo/echo-agent.js';
export { OpenAIAgent, createOpenAIAgent, buildMessages, DEFAULT_OPENAI_BASE_URL } from './openai/openai-agent.js';
export { HttpAgent, createHttpAgent, type HttpAgentPayload } from './http/http-agent.js';
export { runAgent, AGENT_BACKOFF, MAX_RETRY_AFTER_MS, type AgentOutcome, type HistoryCut, type RunAgentDeps } from './run-agent.js';
export { createAgent, agentProviders, type AgentProvider } from './registry.js';
export { isRetryableStatus, parseRetryAfter } from '../core/retry-after.js';
