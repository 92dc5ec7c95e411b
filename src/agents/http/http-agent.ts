import type { Agent, AgentDeps, AgentReply, AgentRequest } from '../agent.js';
import { handoffMinutesSchema, MAX_HANDOFF_MINUTES, type HttpProfile } from '../../config/schema.js';
import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import { isRetryableStatus, parseRetryAfter } from '../../core/retry-after.js';
import { serverSentEvents } from '../../core/server-sent-events.js';
import { signatureHeaders } from '../../core/signature.js';
import { CONTEXT_LENGTH_EXCEEDED, isContextOverflow } from '../context-overflow.js';
import { parseReplyImages } from '../reply-images.js';
import { undiciFetch } from '../undici-fetch.js';

/** The JSON body POSTed to the agent service. */
export interface HttpAgentPayload {
  agent_id: string;
  message: {
    id: string;
    /** CocoCat's own id of the message: the one a later reply names (`POST /api/v1/agents/{agent}/messages/{gateway_id}/replies`). */
    gateway_id?: string;
    user_id: string;
    conversation_id: string;
    content: string;
    msg_type: string;
    channel_type: string;
    is_group: boolean;
    /** Epoch milliseconds, as the platform reported it. */
    timestamp: number;
    /** With `images: true` in the profile: the images the user sent, downloaded. */
    images?: { mime_type: string; data_base64: string }[];
    /** With `files: true` in the profile: the files, voice messages and videos the user sent, downloaded. */
    files?: { kind: 'file' | 'voice' | 'video'; name?: string; mime_type: string; data_base64: string }[];
  };
  history: { role: 'user' | 'assistant'; content: string }[];
  scene?: { id: string; name: string; context: string };
}

/** Your own agent service behind a signed webhook-style POST. */
export class HttpAgent implements Agent {
  readonly provider = 'http';
  readonly streams: boolean;

  constructor(
    private readonly profile: HttpProfile,
    private readonly deps: AgentDeps,
  ) {
    this.streams = profile.stream;
  }

  async run(request: AgentRequest): Promise<AgentReply> {
    // A stream is asked for only when someone watches; the service may answer in one piece anyway.
    const streamed = this.streams && request.onText !== undefined;
    const body = JSON.stringify({ ...buildPayload(request), ...(streamed ? { stream: true } : {}) });
    const headers = {
      'content-type': 'application/json',
      ...(streamed ? { accept: 'text/event-stream, application/json;q=0.9, text/plain;q=0.8' } : {}),
      ...signatureHeaders(this.profile.secret, this.deps.clock.now(), body),
    };

    let response: Response | undefined;
    let text: string;
    try {
      response = await undiciFetch(this.profile.url, { method: 'POST', headers, body, signal: request.signal });
      if (response.ok && response.body && isEventStream(response.headers.get('content-type'))) {
        return await readStreamedReply(response.body, request.onText, this.profile.url);
      }
      text = await response.text();
    } catch (err) {
      if (isCocoError(err)) throw err;
      if (request.signal.aborted) {
        throw new CocoError('COCO_ERR_AGENT_FAILED', 'agent request aborted', { cause: request.signal.reason ?? err });
      }
      const what = response ? `the answer from ${this.profile.url} broke off` : `cannot reach agent at ${this.profile.url}`;
      throw new CocoError('COCO_ERR_AGENT_FAILED', `${what}: ${causeOf(err)}`, { cause: err, retryable: true });
    }

    if (!response.ok) {
      if (isContextOverflow(response.status, errorCodeOf(text), text)) {
        throw new CocoError('COCO_ERR_AGENT_CONTEXT', `agent at ${this.profile.url} refused the request as too long (HTTP ${response.status}): ${snippet(text)}`, {
          statusCode: response.status,
        });
      }
      const retryAfterMs = parseRetryAfter(response.headers, this.deps.clock.now());
      throw new CocoError('COCO_ERR_AGENT_FAILED', `agent at ${this.profile.url} answered HTTP ${response.status}: ${snippet(text)}`, {
        statusCode: response.status,
        retryable: isRetryableStatus(response.status),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    return parseReply(response.headers.get('content-type') ?? '', text, this.profile.url);
  }
}

function buildPayload(request: AgentRequest): HttpAgentPayload {
  const m = request.message;
  return {
    agent_id: request.agentId,
    message: {
      id: m.msgId,
      ...(request.messageId === undefined ? {} : { gateway_id: request.messageId }),
      user_id: m.userId,
      conversation_id: m.conversationId,
      content: m.content,
      msg_type: m.msgType,
      channel_type: m.channelType,
      is_group: m.isGroup,
      timestamp: m.timestamp,
      ...(request.images?.length ? { images: request.images.map((i) => ({ mime_type: i.mimeType, data_base64: i.data.toString('base64') })) } : {}),
      ...(request.files?.length
        ? { files: request.files.map((f) => ({ kind: f.kind, ...(f.name ? { name: f.name } : {}), mime_type: f.mimeType, data_base64: f.data.toString('base64') })) }
        : {}),
    },
    history: request.history.map((t) => ({ role: t.role, content: t.content })),
    ...(request.scene ? { scene: { id: request.scene.id, name: request.scene.name, context: request.scene.context } } : {}),
  };
}

function isEventStream(contentType: string | null): boolean {
  return contentType?.toLowerCase().startsWith('text/event-stream') === true;
}

/**
 * A streamed answer: `delta` events `{"text": "…"}` append to the reply, `done` (`{"format"?}`)
 * ends it, `error` (`{"message", "retryable"?}`) fails the attempt. A stream that ends before
 * `done` broke off: worth another try. Malformed events are a bug in the service: not retried.
 */
async function readStreamedReply(body: ReadableStream<Uint8Array>, onText: ((textSoFar: string) => void) | undefined, url: string): Promise<AgentReply> {
  let text = '';
  for await (const { event, data } of serverSentEvents(body)) {
    if (event !== 'delta' && event !== 'done' && event !== 'error') continue;
    let fields: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(data || '{}');
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not a JSON object');
      fields = parsed as Record<string, unknown>;
    } catch (err) {
      throw invalid(url, `the "${event}" event's data is not a JSON object (${describeError(err)})`);
    }
    if (event === 'delta') {
      if (typeof fields.text !== 'string') throw invalid(url, 'a "delta" event has no string "text"');
      if (fields.text === '') continue;
      text += fields.text;
      onText?.(text);
    } else if (event === 'error') {
      const message = typeof fields.message === 'string' ? fields.message : 'no message';
      if (fields.code === CONTEXT_LENGTH_EXCEEDED) throw new CocoError('COCO_ERR_AGENT_CONTEXT', `agent at ${url} refused the request as too long: ${snippet(message)}`);
      throw new CocoError('COCO_ERR_AGENT_FAILED', `agent at ${url} reported an error: ${snippet(message)}`, { retryable: fields.retryable !== false });
    } else {
      return answer(text, fields, url, 'the stream finished without any text or images');
    }
  }
  throw new CocoError('COCO_ERR_AGENT_FAILED', `agent at ${url} ended its stream before the "done" event`, { retryable: true });
}

/** Tokens a service may report with its answer (`usage: {prompt_tokens, completion_tokens}`, as the OpenAI API does); anything else is ignored. */
function usageOf(usage: unknown): Pick<AgentReply, 'usage'> {
  const u = usage as { prompt_tokens?: unknown; completion_tokens?: unknown } | null | undefined;
  const count = (n: unknown) => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined);
  const promptTokens = count(u?.prompt_tokens);
  const completionTokens = count(u?.completion_tokens);
  return promptTokens !== undefined && completionTokens !== undefined ? { usage: { promptTokens, completionTokens } } : {};
}

function replyFormat(format: unknown, url: string): AgentReply['format'] {
  if (format !== undefined && format !== 'text' && format !== 'markdown') {
    throw invalid(url, `"format" must be "text" or "markdown", got ${JSON.stringify(format)}`);
  }
  return format ?? 'text';
}

/** A malformed 2xx answer is a bug in the service: retrying the same request will not fix it. */
function parseReply(contentType: string, text: string, url: string): AgentReply {
  const type = contentType.toLowerCase();
  if (type.startsWith('text/plain')) {
    if (text.trim() === '') throw invalid(url, 'the text/plain reply is empty');
    return { text, format: 'text' };
  }
  if (!type.includes('json')) throw invalid(url, `unsupported content-type "${contentType}"; expected application/json, text/plain or text/event-stream`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(url, `the body is not valid JSON (${describeError(err)})`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid(url, 'expected a JSON object {"reply": "..."}');
  const { reply } = parsed as { reply?: unknown };
  if (reply !== undefined && typeof reply !== 'string') throw invalid(url, '"reply" must be a string');
  return answer(reply ?? '', parsed as Record<string, unknown>, url, 'the JSON has neither a non-empty string "reply" nor "images"');
}

/**
 * The reply from its text and the answer's other fields (`format`, `images`, `usage`, `handoff`,
 * `later`); it needs text or an image, unless the service says it answers later.
 */
function answer(text: string, fields: Record<string, unknown>, url: string, empty: string): AgentReply {
  const images = parseReplyImages(fields.images, `agent at ${url} sent an invalid reply`);
  if (fields.later !== undefined && typeof fields.later !== 'boolean') throw invalid(url, '"later" must be true or false');
  const later = fields.later === true;
  if (text.trim() === '' && images.length === 0 && !later) throw invalid(url, `${empty} (or "later": true)`);
  const handoff = handoffOf(fields.handoff, url);
  return {
    text,
    format: replyFormat(fields.format, url),
    ...(images.length > 0 ? { images } : {}),
    ...usageOf(fields.usage),
    ...(handoff ? { handoff } : {}),
    ...(later ? { later } : {}),
  };
}

/** `"handoff": true` or `{"minutes": 1…MAX_HANDOFF_MINUTES}`: the service hands the conversation to a person with this answer. */
function handoffOf(value: unknown, url: string): AgentReply['handoff'] {
  if (value === undefined || value === false || value === null) return undefined;
  if (value === true) return {};
  const minutes = typeof value === 'object' && !Array.isArray(value) ? (value as { minutes?: unknown }).minutes : Number.NaN;
  if (minutes === undefined) return {};
  const parsed = handoffMinutesSchema.safeParse(minutes);
  if (!parsed.success) throw invalid(url, `"handoff" must be true or {"minutes": an integer from 1 to ${MAX_HANDOFF_MINUTES}}`);
  return { minutes: parsed.data };
}

function invalid(url: string, why: string): CocoError {
  return new CocoError('COCO_ERR_AGENT_FAILED', `agent at ${url} sent an invalid reply: ${why}`, { retryable: false });
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 200) + '…' : flat || '(empty body)';
}

/** A fetch error may hide the useful part (ECONNREFUSED, …) in `cause`. */
function causeOf(err: unknown): string {
  const cause = err instanceof Error && err.cause !== undefined ? `: ${describeError(err.cause)}` : '';
  return describeError(err) + cause;
}

export function createHttpAgent(profile: HttpProfile, deps: AgentDeps): Agent {
  return new HttpAgent(profile, deps);
}

/** `error.code` of an OpenAI-shaped error body (`{"error": {"code": …}}`), if the body is one. */
function errorCodeOf(body: string): unknown {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } } | null;
    return parsed?.error?.code;
  } catch {
    return undefined;
  }
}
