import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AgentFile, MediaContent } from '../core/media.js';
import type { ChatMessage, ReplyImage } from '../core/message.js';
import type { AgentProfile } from '../config/schema.js';

/** One earlier turn of the conversation, oldest first. */
export interface AgentTurn {
  role: 'user' | 'assistant';
  content: string;
}

/** Everything an agent needs to answer one message. */
export interface AgentRequest {
  agentId: string;
  /** The message being answered. */
  message: ChatMessage;
  /** CocoCat's own id of the message (the message log's): the one a later reply names. */
  messageId?: string;
  /** Earlier turns of this conversation with this agent, trimmed to the profile's window. */
  history: AgentTurn[];
  /** Set when the message came through a scene entry: the scene answers through its lead agent. */
  scene?: { id: string; name: string; context: string };
  /** The images the user sent with the message, downloaded, for a profile with `images: true`. */
  images?: MediaContent[];
  /** The files, voice messages and videos the user sent, downloaded, for a profile with `files: true`. */
  files?: AgentFile[];
  /** Aborted when the gateway gives up on this run (timeout or shutdown). */
  signal: AbortSignal;
  /**
   * Set when someone can watch the reply being written (a channel's preview): an agent that
   * `streams` calls it with the whole text so far as it grows. The returned reply still counts.
   */
  onText?: (textSoFar: string) => void;
}

export interface AgentReply {
  text: string;
  /** "markdown" lets channels that render markdown do so; others turn it into plain text. */
  format: 'text' | 'markdown';
  /** Images to send after the text, each as a message of its own (text may then be empty). */
  images?: ReplyImage[];
  /** Tokens the model reported for this answer, when it reports them (counted per agent, shown in the message log). */
  usage?: TokenUsage;
  /** The agent hands the conversation to a person with this answer: for `minutes`, or the profile's `handoff.minutes` (60). */
  handoff?: { minutes?: number };
  /**
   * The agent answers (again) later, through the agent API's later replies (`http` agents with a
   * secret): the text may then be empty, and an empty answer sends nothing now.
   */
  later?: boolean;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * Turns a conversation into a reply. An implementation throws when it cannot answer; the caller
 * (`runAgent`) applies retries with backoff and, after the last failure, the fallback reply.
 */
export interface Agent {
  readonly provider: string;
  /** False when the agent never reads `history` (echo): the gateway then skips loading it. */
  readonly usesHistory?: boolean;
  /** True when `run` reports the reply as it is written (`onText`); the gateway then offers a preview. */
  readonly streams?: boolean;
  run(request: AgentRequest): Promise<AgentReply>;
}

export interface AgentDeps {
  clock: Clock;
  log: Logger;
  /** The environment, read here only for documented fallbacks (OPENAI_API_KEY). */
  env: Record<string, string | undefined>;
}

export type AgentFactory = (profile: AgentProfile, deps: AgentDeps) => Agent;
