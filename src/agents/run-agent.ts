import type { Agent, AgentDeps, AgentReply, AgentRequest } from './agent.js';
import type { AgentProfile } from '../config/schema.js';
import { backoffDelay, type BackoffPolicy } from '../core/backoff.js';
import { CocoError, describeError, isCocoError } from '../core/errors.js';
import { halveHistory } from '../core/history-budget.js';

export type AgentOutcome =
  | { reply: AgentReply; ok: true; attempts: number; latencyMs: number; historyCut?: HistoryCut }
  | { reply: AgentReply; ok: false; attempts: number; latencyMs: number; error: CocoError; historyCut?: HistoryCut };

/** The model refused the length, and the history was halved until it fit (or was gone): `kept` of `of` turns. */
export interface HistoryCut {
  kept: number;
  of: number;
}

export interface RunAgentDeps extends AgentDeps {
  /**
   * Aborted on shutdown, or when the answer is no longer wanted (its message was recalled): the
   * current attempt stops at once and nothing is retried. A non-retryable CocoError as the reason
   * is the outcome's cause; any other reason reads as a shutdown.
   */
  signal?: AbortSignal;
  /** Wait between attempts; defaults to AGENT_BACKOFF. */
  backoff?: BackoffPolicy;
  /** Jitter source for the backoff; tests pin it. */
  random?: () => number;
}

export const AGENT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 10_000 };
/** A provider's retry-after is honoured up to this; longer would hold the conversation too long. */
export const MAX_RETRY_AFTER_MS = 30_000;

/**
 * Runs one agent request with a per-attempt timeout, retries with backoff and, after the last
 * failure, the profile's fallback reply. Never throws for agent failures: the outcome says. A
 * request the model refuses as too long (COCO_ERR_AGENT_CONTEXT) is sent again at once with the
 * newer half of the history, down to none; those tries do not use up `retries`.
 */
export async function runAgent(
  agent: Agent,
  profile: AgentProfile,
  request: Omit<AgentRequest, 'signal'>,
  deps: RunAgentDeps,
): Promise<AgentOutcome> {
  const started = deps.clock.now();
  const maxAttempts = 1 + profile.retries;
  let attempts = 0;
  let last: CocoError | undefined;
  let history = request.history;
  const cut = () => (history.length < request.history.length ? { historyCut: { kept: history.length, of: request.history.length } } : {});

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (deps.signal?.aborted) {
      last = cancelled(deps.signal.reason);
      break;
    }
    attempts++;
    try {
      const reply = await attemptOnce(agent, profile, { ...request, history }, deps);
      return { ok: true, reply, attempts, latencyMs: deps.clock.now() - started, ...cut() };
    } catch (err) {
      if (deps.signal?.aborted) {
        // Stopped, not failed: no warning, no retry.
        last = cancelled(deps.signal.reason);
        break;
      }
      last = toCocoError(err);
      if (last.code === 'COCO_ERR_AGENT_CONTEXT' && history.length > 0) {
        const shorter = halveHistory(history);
        deps.log.warn(
          { agentId: request.agentId, messageId: request.message.msgId, turns: history.length, kept: shorter.length, err: describeError(last) },
          'the model refused the length; asking again with less history (lower history_max_chars for this model)',
        );
        history = shorter;
        attempt--;
        continue;
      }
      deps.log.warn(
        {
          agentId: request.agentId,
          messageId: request.message.msgId,
          attempt,
          maxAttempts,
          code: last.code,
          statusCode: last.statusCode,
          retryable: last.retryable,
          err: describeError(last),
        },
        'agent attempt failed',
      );
      if (!last.retryable || attempt === maxAttempts) break;
      const wait =
        last.retryAfterMs !== undefined
          ? Math.min(last.retryAfterMs, MAX_RETRY_AFTER_MS)
          : backoffDelay(deps.backoff ?? AGENT_BACKOFF, attempt, deps.random);
      try {
        await deps.clock.sleep(wait, deps.signal);
      } catch (reason) {
        last = cancelled(reason);
        break;
      }
    }
  }

  const cause = last ?? new CocoError('COCO_ERR_AGENT_FAILED', 'no attempt was made');
  return {
    ok: false,
    reply: { text: profile.fallback_reply, format: 'text' },
    attempts,
    latencyMs: deps.clock.now() - started,
    ...cut(),
    error: new CocoError(
      'COCO_ERR_AGENT_FAILED',
      `agent ${request.agentId} failed after ${attempts} attempt(s): ${describeError(cause)}`,
      { cause },
    ),
  };
}

/**
 * One attempt with its own AbortController, aborted by the timeout (on the injected clock) or
 * by shutdown. The race means an agent that ignores its signal still cannot hold us past it.
 */
async function attemptOnce(
  agent: Agent,
  profile: AgentProfile,
  request: Omit<AgentRequest, 'signal'>,
  deps: RunAgentDeps,
): Promise<AgentReply> {
  const controller = new AbortController();
  const onShutdown = () => controller.abort(cancelled(deps.signal?.reason));
  deps.signal?.addEventListener('abort', onShutdown, { once: true });
  // A plain timer rather than an aborted sleep: one AbortController per attempt, not two.
  const cancelTimeout = deps.clock.timeout(profile.timeout_ms, () =>
    controller.abort(
      new CocoError('COCO_ERR_AGENT_TIMEOUT', `agent ${request.agentId} did not answer within ${profile.timeout_ms} ms`, {
        retryable: true,
      }),
    ),
  );
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  aborted.catch(() => {});

  // An attempt given up on (timed out, yet still writing) must not show its text over the next one's.
  let current = true;
  const onText = request.onText && ((text: string) => void (current && request.onText!(text)));

  // Called synchronously so the attempt starts at the clock's current time (ManualClock tests).
  let run: Promise<AgentReply>;
  try {
    run = agent.run({ ...request, ...(onText ? { onText } : {}), signal: controller.signal });
  } catch (err) {
    run = Promise.reject(err);
  }
  run.catch(() => {}); // a late rejection after the race was lost is expected, not unhandled
  try {
    return await Promise.race([run, aborted]);
  } catch (err) {
    // Whatever the agent threw after an abort, the abort reason says what really happened.
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    current = false;
    cancelTimeout();
    deps.signal?.removeEventListener('abort', onShutdown);
  }
}

function cancelled(reason: unknown): CocoError {
  if (isCocoError(reason) && !reason.retryable) return reason;
  return new CocoError('COCO_ERR_AGENT_FAILED', 'agent run cancelled: the gateway is shutting down', {
    cause: reason,
    retryable: false,
  });
}

/** Errors an agent did not classify are treated as transient. */
function toCocoError(err: unknown): CocoError {
  if (isCocoError(err)) return err;
  return new CocoError('COCO_ERR_AGENT_FAILED', describeError(err), { cause: err, retryable: true });
}
