/**
 * Failover (`failover` in a profile): when the conversation's agent still fails after its retries
 * (an outage, a revoked key, a message too long for its model), the agents it names are asked in
 * turn, each with its own provider, model, key, timeout and retries. The request stays the
 * conversation's (its history, scene and quotes); images and files go only to an agent that takes
 * them. The first answer counts. When every one fails, the outcome is the first agent's fallback
 * reply with the last error. A stopped run (shutdown, a recall) asks no one else.
 */
import type { Agent, AgentRequest } from '../agents/agent.js';
import { runAgent, type AgentOutcome, type RunAgentDeps } from '../agents/run-agent.js';
import type { AgentProfile } from '../config/schema.js';
import { describeError, isCocoError } from './errors.js';
import { readsFiles, readsImages } from './media.js';

export interface ChainedAgent {
  agentId: string;
  agent: Agent;
  profile: AgentProfile;
}

export type FailoverOutcome = AgentOutcome & {
  /** The failover agent that answered; none: the first one did, or no one. */
  answeredBy?: string;
  /** The agents that failed before the outcome, with their last error's code, in order. */
  failed?: string[];
};

export interface FailoverDeps extends RunAgentDeps {
  /** Each agent's own outcome, failed or not, except a stopped run's (ops/health-watch.ts counts them). */
  onOutcome?: (agentId: string, outcome: AgentOutcome) => void;
}

export async function runWithFailover(
  first: ChainedAgent,
  failover: readonly ChainedAgent[],
  request: Omit<AgentRequest, 'signal'>,
  deps: FailoverDeps,
): Promise<FailoverOutcome> {
  const run = async (chained: ChainedAgent, asked: Omit<AgentRequest, 'signal'>) => {
    const outcome = await runAgent(chained.agent, chained.profile, asked, deps);
    if (!deps.signal?.aborted) deps.onOutcome?.(chained.agentId, outcome);
    return outcome;
  };
  const outcome = await run(first, request);
  if (outcome.ok || failover.length === 0 || deps.signal?.aborted) return outcome;
  let last: AgentOutcome = outcome;
  let lastId = first.agentId;
  let { attempts, latencyMs } = outcome;
  const failed = [`${first.agentId} (${codeOf(outcome)})`];
  for (const next of failover) {
    deps.log.warn({ agentId: lastId, failover: next.agentId, err: describeError(errorOf(last)) }, 'agent failed; asking the next agent of the failover');
    const { images, files, ...rest } = request;
    const asked = {
      ...rest,
      agentId: next.agentId,
      ...(images && readsImages(next.profile) ? { images } : {}),
      ...(files && readsFiles(next.profile) ? { files } : {}),
    };
    const answer = await run(next, asked);
    attempts += answer.attempts;
    latencyMs += answer.latencyMs;
    if (answer.ok) return { ...answer, attempts, latencyMs, answeredBy: next.agentId, failed };
    failed.push(`${next.agentId} (${codeOf(answer)})`);
    last = answer;
    lastId = next.agentId;
    if (deps.signal?.aborted) break;
  }
  // The conversation's agent speaks for the conversation: its fallback reply, whoever failed last.
  return { ...last, reply: outcome.reply, attempts, latencyMs, failed };
}

function errorOf(outcome: AgentOutcome): unknown {
  return outcome.ok ? undefined : (outcome.error.cause ?? outcome.error);
}

function codeOf(outcome: AgentOutcome): string {
  const cause = errorOf(outcome);
  return isCocoError(cause) ? cause.code : 'COCO_ERR_AGENT_FAILED';
}
