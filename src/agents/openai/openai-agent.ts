import type OpenAI from 'openai';
type ChatCompletionMessageParam = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ChatCompletionContentPart = OpenAI.Chat.Completions.ChatCompletionContentPart;
import type { Agent, AgentDeps, AgentReply, AgentRequest } from '../agent.js';
import type { AgentFile } from '../../core/media.js';
import type { OpenAIProfile } from '../../config/schema.js';
import { CocoError, describeError } from '../../core/errors.js';
import { isRetryableStatus, parseRetryAfter } from '../../core/retry-after.js';
import { isContextOverflow } from '../context-overflow.js';
import { takeMarkdownImages } from '../markdown-images.js';
import { undiciFetch } from '../undici-fetch.js';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

type OpenAISdk = typeof import('openai');

/**
 * The SDK is loaded when the first OpenAI agent is made (the gateway makes its agents just after it
 * is ready), not while it starts: ready comes ~50–100 ms sooner, and a workspace without an OpenAI
 * agent (the demo's echo agent) never loads it.
 */
let sdkModule: Promise<OpenAISdk> | undefined;
const loadSdk = () => (sdkModule ??= import('openai'));

/** Any OpenAI-compatible chat-completions endpoint (OpenAI, DeepSeek, Qwen, vLLM, Ollama, …). */
export class OpenAIAgent implements Agent {
  readonly provider = 'openai';
  readonly streams: boolean;
  private readonly client: Promise<{ sdk: OpenAISdk; client: OpenAI }>;
  private readonly baseURL: string;

  constructor(
    private readonly profile: OpenAIProfile,
    private readonly deps: AgentDeps,
  ) {
    const apiKey = profile.api_key ?? deps.env.OPENAI_API_KEY;
    if (!apiKey) {
      throw new CocoError(
        'COCO_ERR_CONFIG_INVALID',
        'OpenAI agent has no API key: set "api_key" in the agent profile or the OPENAI_API_KEY environment variable',
        { field: 'api_key' },
      );
    }
    this.baseURL = profile.base_url ?? DEFAULT_OPENAI_BASE_URL;
    this.streams = profile.stream;
    // maxRetries 0: runAgent retries, uniformly across providers and on the injected clock.
    // logLevel off: the SDK would format request details for its own logger on every call.
    const options = { baseURL: this.baseURL, apiKey, timeout: profile.timeout_ms, maxRetries: 0, logLevel: 'off' as const };
    this.client = loadSdk().then((sdk) => ({ sdk, client: new sdk.default({ ...options, fetch: undiciFetch }) }));
    this.client.catch(() => {}); // a failed load is reported by run(), per message
  }

  async run(request: AgentRequest): Promise<AgentReply> {
    const { sdk, client } = await this.client;
    const params = {
      model: this.profile.model,
      messages: buildMessages(this.profile, request),
      ...(this.profile.temperature !== undefined ? { temperature: this.profile.temperature } : {}),
      ...(this.profile.max_tokens !== undefined ? { max_tokens: this.profile.max_tokens } : {}),
    };
    let content: string | null | undefined;
    let finishReason: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    try {
      if (request.onText) {
        // Only when someone watches: the same answer, read as it is written.
        ({ content, finishReason, usage } = await streamCompletion(client, params, request.onText, request.signal));
      } else {
        const completion = await client.chat.completions.create(params, { signal: request.signal });
        content = completion.choices[0]?.message?.content;
        finishReason = completion.choices[0]?.finish_reason;
        usage = completion.usage;
      }
    } catch (err) {
      throw this.mapError(sdk, err, request.signal);
    }
    if (typeof content !== 'string' || content.trim() === '') {
      // Often a content filter or length cut-off; a retry (sampling again) may well succeed.
      throw new CocoError('COCO_ERR_AGENT_FAILED', `model ${this.profile.model} returned no content (finish_reason: ${finishReason ?? 'none'})`, {
        retryable: true,
      });
    }
    const reply: AgentReply = { text: content, format: 'markdown', ...(usage ? { usage: { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens } } : {}) };
    if (!this.profile.markdown_images) return reply;
    const { text, images } = takeMarkdownImages(content);
    return images.length > 0 ? { ...reply, text, images } : reply;
  }

  private mapError(sdk: OpenAISdk, err: unknown, signal: AbortSignal): CocoError {
    const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = sdk;
    if (err instanceof CocoError) return err;
    if (err instanceof APIUserAbortError || signal.aborted) {
      return new CocoError('COCO_ERR_AGENT_FAILED', 'chat completion aborted', { cause: signal.reason ?? err });
    }
    if (err instanceof APIConnectionTimeoutError) {
      return new CocoError('COCO_ERR_AGENT_TIMEOUT', `${this.baseURL} did not answer within ${this.profile.timeout_ms} ms`, {
        cause: err,
        retryable: true,
      });
    }
    if (err instanceof APIConnectionError) {
      return new CocoError('COCO_ERR_AGENT_FAILED', `cannot reach ${this.baseURL}: ${describeError(err)}`, {
        cause: err,
        retryable: true,
      });
    }
    if (err instanceof APIError && isContextOverflow(err.status, err.code, err.message)) {
      return new CocoError('COCO_ERR_AGENT_CONTEXT', `model ${this.profile.model} refused the request as too long (HTTP ${err.status}): ${describeError(err)}`, {
        cause: err,
        statusCode: err.status,
      });
    }
    if (err instanceof APIError && typeof err.status === 'number') {
      const retryAfterMs = parseRetryAfter(err.headers, this.deps.clock.now());
      return new CocoError('COCO_ERR_AGENT_FAILED', `chat completion failed (HTTP ${err.status}): ${describeError(err)}`, {
        cause: err,
        statusCode: err.status,
        retryable: isRetryableStatus(err.status),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    // Unknown failures (e.g. a malformed response): worth another try.
    return new CocoError('COCO_ERR_AGENT_FAILED', `chat completion failed: ${describeError(err)}`, { cause: err, retryable: true });
  }
}

type CompletionParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

/**
 * A streamed completion: `onText` gets the whole text so far after each piece; the result is the
 * same as the non-streamed call's. A stream that breaks off throws like a failed call (retryable).
 */
async function streamCompletion(
  client: OpenAI,
  params: CompletionParams,
  onText: (textSoFar: string) => void,
  signal: AbortSignal,
): Promise<{ content: string; finishReason: string | null | undefined; usage?: OpenAI.CompletionUsage }> {
  // include_usage: the last chunk (without choices) reports the tokens, as the whole answer does.
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, { signal });
  let content = '';
  let finishReason: string | null | undefined;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    finishReason = choice.finish_reason ?? finishReason;
    const piece = choice.delta?.content;
    if (typeof piece === 'string' && piece !== '') {
      content += piece;
      onText(content);
    }
  }
  if (finishReason === undefined || finishReason === null) {
    throw new CocoError('COCO_ERR_AGENT_FAILED', 'the completion stream ended before the model finished', { retryable: true });
  }
  return { content, finishReason, ...(usage ? { usage } : {}) };
}

/** System prompt (plus the scene, when the message came through one), history, then the message. */
export function buildMessages(profile: OpenAIProfile, request: AgentRequest): ChatCompletionMessageParam[] {
  const system = [
    profile.system_prompt,
    request.scene ? `Scene: ${request.scene.name}\n${request.scene.context}` : undefined,
  ].filter((part): part is string => typeof part === 'string' && part.trim() !== '');
  const messages: ChatCompletionMessageParam[] = [];
  if (system.length > 0) messages.push({ role: 'system', content: system.join('\n\n') });
  for (const turn of request.history) messages.push({ role: turn.role, content: turn.content });
  const parts: ChatCompletionContentPart[] = [
    ...(request.images ?? []).map((image) => ({ type: 'image_url' as const, image_url: { url: `data:${image.mimeType};base64,${image.data.toString('base64')}` } })),
    ...(request.files ?? []).flatMap(filePart),
  ];
  messages.push({ role: 'user', content: parts.length === 0 ? request.message.content : [{ type: 'text', text: request.message.content }, ...parts] });
  return messages;
}

/** Text files go to the model as text, at most this many characters each (about 25 000 tokens). */
export const MAX_FILE_TEXT_CHARS = 100_000;
const TEXT_TYPES = /^(text\/|application\/(json|xml|x-yaml|yaml|x-ndjson|javascript|sql|toml|x-sh)$)|\+(json|xml)$/;

/**
 * A file as the model takes it: text (UTF-8, a type that is text) as a text part under its name, a
 * PDF as a file part (OpenAI's format), anything else not at all: the message text describes it.
 */
function filePart(file: AgentFile): ChatCompletionContentPart[] {
  const name = file.name ?? 'file';
  if (file.mimeType === 'application/pdf') {
    return [{ type: 'file', file: { filename: name, file_data: `data:application/pdf;base64,${file.data.toString('base64')}` } }];
  }
  if (!TEXT_TYPES.test(file.mimeType)) return [];
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file.data);
  } catch {
    return []; // says it is text, is not UTF-8: described only
  }
  const cut = text.length > MAX_FILE_TEXT_CHARS;
  // Never half a surrogate pair at the cut.
  const end = cut && /[\uD800-\uDBFF]/.test(text[MAX_FILE_TEXT_CHARS - 1]!) ? MAX_FILE_TEXT_CHARS - 1 : MAX_FILE_TEXT_CHARS;
  const body = cut ? `${text.slice(0, end)}\n[… cut: the first ${MAX_FILE_TEXT_CHARS} of ${text.length} characters]` : text;
  return [{ type: 'text', text: `[file: ${name}]\n${body}` }];
}

export function createOpenAIAgent(profile: OpenAIProfile, deps: AgentDeps): Agent {
  return new OpenAIAgent(profile, deps);
}
