import { readBody, sendJson } from '../http.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted answer for the next request(s) instead of a normal completion. */
export type FakeLlmFailure =
  | { status: number; retryAfter?: number; message?: string }
  | { hang: true }
  | { emptyContent: true }
  /** A streamed answer that sends `afterPieces` pieces and then drops the connection. */
  | { breakStream: true; afterPieces: number };

export interface FakeLlmOptions {
  /** When set, requests whose bearer key differs get 401 invalid_api_key. */
  apiKey?: string;
  /** Wait this long before answering each request. */
  delayMs?: number;
  /** Reply text from the request body; default "reply to: <last user message>". */
  reply?: (body: FakeChatRequest) => string;
  /** With `stream: true`, the wait between two pieces (words) of the streamed answer. */
  pieceDelayMs?: number;
  /** The model's context window in the fake's tokens (one per character of the messages' text); longer requests get 400. */
  contextLimit?: number;
  /** How the refusal of a too long request reads: OpenAI's (default) or Qwen on DashScope's. */
  contextError?: 'openai' | 'dashscope';
}

export interface FakeChatRequest {
  model?: string;
  messages?: { role: string; content: unknown }[];
  temperature?: number;
  max_tokens?: number;
  stream?: boolean;
  [key: string]: unknown;
}

export interface FakeLlmRequest {
  body: FakeChatRequest;
  /** Whether an Authorization header came (the key itself is not recorded). */
  hasAuth: boolean;
  /** Whether the bearer key matched `apiKey` (true when no key is expected). */
  keyValid: boolean;
}

export interface FakeLlm {
  /** Base URL ending in /v1, for `base_url`. */
  readonly url: string;
  /** Every chat-completions request received, in arrival order. */
  readonly requests: FakeLlmRequest[];
  /** Requests being handled right now, and the most seen at once. */
  readonly inFlight: number;
  readonly maxConcurrent: number;
  /** Requests whose client hung up before the whole answer was sent (a cancelled call). */
  readonly hungUp: number;
  /** Per-request delay; may be changed between requests. */
  delayMs: number;
  /** Wait between the pieces of a streamed answer; may be changed between requests. */
  pieceDelayMs: number;
  /** Expected bearer key; undefined accepts any. */
  apiKey: string | undefined;
  /** The context window (see FakeLlmOptions); may be changed between requests. */
  contextLimit: number | undefined;
  /** The next `n` requests (after the key check) answer with `failure`. Calls queue up. */
  failNext(n: number, failure: FakeLlmFailure): void;
  /** Clears recorded requests, scripted failures and the concurrency maximum. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts an OpenAI-compatible chat-completions server on 127.0.0.1 and a free port. */
export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const requests: FakeLlmRequest[] = [];
  const script: FakeLlmFailure[] = [];
  const replyFor = opts.reply ?? defaultReply;
  let inFlight = 0;
  let maxConcurrent = 0;
  let hungUp = 0;
  let seq = 0;

  const state = { delayMs: opts.delayMs ?? 0, pieceDelayMs: opts.pieceDelayMs ?? 0, apiKey: opts.apiKey, contextLimit: opts.contextLimit };

  const server = createServer((req, res) => {
    inFlight++;
    maxConcurrent = Math.max(maxConcurrent, inFlight);
    // 'close' fires both after a full response and when the client gives up.
    res.on('close', () => {
      inFlight--;
      if (!res.writableFinished) hungUp++;
    });
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, String(err), 'server_error', null);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await readBody(req);
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      return sendError(res, 404, `no route ${req.method} ${url.pathname}`, 'invalid_request_error', 'unknown_url');
    }
    let body: FakeChatRequest;
    try {
      body = JSON.parse(raw) as FakeChatRequest;
    } catch {
      return sendError(res, 400, 'body is not JSON', 'invalid_request_error', null);
    }
    const auth = req.headers.authorization;
    const keyValid = state.apiKey === undefined || auth === `Bearer ${state.apiKey}`;
    requests.push({ body, hasAuth: auth !== undefined, keyValid });

    if (!keyValid) return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');

    const badImage = invalidMediaPart(body);
    if (badImage) return sendError(res, 400, badImage, 'invalid_request_error', 'invalid_image_format');

    const length = promptLength(body);
    if (state.contextLimit !== undefined && length > state.contextLimit) {
      return opts.contextError === 'dashscope'
        ? sendError(res, 400, `<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, ${state.contextLimit}]`, 'invalid_request_error', 'invalid_parameter_error')
        : sendError(
            res,
            400,
            `This model's maximum context length is ${state.contextLimit} tokens. However, your messages resulted in ${length} tokens. Please reduce the length of the messages.`,
            'invalid_request_error',
            'context_length_exceeded',
          );
    }

    const failure = script.shift();
    if (failure && 'hang' in failure) return; // never answer; the client must time out
    if (state.delayMs > 0) {
      await new Promise((r) => setTimeout(r, state.delayMs));
      if (res.destroyed) return;
    }
    if (failure && 'status' in failure) {
      if (failure.retryAfter !== undefined) res.setHeader('retry-after', String(failure.retryAfter));
      const type = failure.status === 429 ? 'rate_limit_exceeded' : failure.status >= 500 ? 'server_error' : 'invalid_request_error';
      return sendError(res, failure.status, failure.message ?? `scripted ${failure.status}`, type, null);
    }
    const content = failure && 'emptyContent' in failure ? '' : replyFor(body);
    const id = `chatcmpl-fake-${++seq}`;
    if (body.stream) {
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      return streamAnswer(res, { id, model: body.model ?? 'fake-model', content, pieceDelayMs: state.pieceDelayMs, includeUsage, breakAfter: failure && 'breakStream' in failure ? failure.afterPieces : undefined });
    }
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? 'fake-model',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: usageOf(content),
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    get hungUp() {
      return hungUp;
    },
    get pieceDelayMs() {
      return state.pieceDelayMs;
    },
    set pieceDelayMs(ms: number) {
      state.pieceDelayMs = ms;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get apiKey() {
      return state.apiKey;
    },
    set apiKey(key: string | undefined) {
      state.apiKey = key;
    },
    get contextLimit() {
      return state.contextLimit;
    },
    set contextLimit(limit: number | undefined) {
      state.contextLimit = limit;
    },
    failNext(n, failure) {
      for (let i = 0; i < n; i++) script.push(failure);
    },
    reset() {
      requests.length = 0;
      script.length = 0;
      maxConcurrent = inFlight;
    },
    close() {
      // Hanging requests would keep close() waiting forever.
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * A streamed answer as the API sends it: `chat.completion.chunk` events (the role first, then the
 * content word by word, then an empty delta with the finish reason) and `data: [DONE]`.
 */
async function streamAnswer(
  res: ServerResponse,
  a: { id: string; model: string; content: string; pieceDelayMs: number; includeUsage: boolean; breakAfter?: number },
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const created = Math.floor(Date.now() / 1000);
  const event = (delta: Record<string, unknown>, finish: string | null) =>
    res.write(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created, model: a.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`);
  event({ role: 'assistant', content: '' }, null);
  const pieces = a.content.match(/\S+\s*|\s+/g) ?? [];
  // A connection that breaks off: what was written arrives, then the socket closes mid-body.
  const breakOff = async () => {
    await new Promise((r) => setTimeout(r, 20));
    res.socket?.end();
  };
  for (const [i, piece] of pieces.entries()) {
    if (a.breakAfter !== undefined && i >= a.breakAfter) return breakOff();
    if (i > 0 && a.pieceDelayMs > 0) {
      await new Promise((r) => setTimeout(r, a.pieceDelayMs));
      if (res.destroyed) return;
    }
    event({ content: piece }, null);
  }
  if (a.breakAfter !== undefined) return breakOff();
  event({}, 'stop');
  // Asked for with stream_options.include_usage: one more chunk, without choices, with the usage.
  if (a.includeUsage) res.write(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created, model: a.model, choices: [], usage: usageOf(a.content) })}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** The fake's tokens of a request, for its context window: one per character of every message's text. */
function promptLength(body: FakeChatRequest): number {
  let n = 0;
  for (const m of body.messages ?? []) {
    if (typeof m.content === 'string') n += m.content.length;
    else for (const p of contentParts(m.content)) n += p.text?.length ?? 0;
  }
  return n;
}

/** The fake's token count: 10 for the prompt, one per character of the answer. */
function usageOf(content: string) {
  return { prompt_tokens: 10, completion_tokens: content.length, total_tokens: 10 + content.length };
}

function defaultReply(body: FakeChatRequest): string {
  const lastUser = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  if (typeof lastUser?.content === 'string') return `reply to: ${lastUser.content}`;
  const parts = contentParts(lastUser?.content);
  const text = parts.filter((p) => p.type === 'text').map((p) => p.text ?? '').join(' ');
  const images = parts.filter((p) => p.type === 'image_url').length;
  const files = parts.filter((p) => p.type === 'file').length;
  return `reply to: ${text}${images > 0 ? ` (+${images} image${images > 1 ? 's' : ''})` : ''}${files > 0 ? ` (+${files} file${files > 1 ? 's' : ''})` : ''}`;
}

interface ContentPart {
  type?: string;
  text?: string;
  image_url?: { url?: string };
  file?: { filename?: string; file_data?: string; file_id?: string };
}

function contentParts(content: unknown): ContentPart[] {
  return Array.isArray(content) ? (content as ContentPart[]) : [];
}

/** The image types the chat-completions API takes; others are refused with 400 as the real API does. */
const IMAGE_DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/;

/** A file part as OpenAI takes one inline: a filename and a base64 data URL of a PDF. */
const PDF_DATA_URL = /^data:application\/pdf;base64,([A-Za-z0-9+/]+={0,2})$/;

function invalidMediaPart(body: FakeChatRequest): string | undefined {
  for (const m of body.messages ?? []) {
    for (const part of contentParts(m.content)) {
      if (part.type === 'file' && (!part.file?.filename || !PDF_DATA_URL.test(part.file.file_data ?? ''))) {
        return `Invalid file: expected a filename and a base64 data URL of a PDF, got ${(part.file?.file_data ?? '').slice(0, 40)}`;
      }
      if (part.type !== 'image_url') continue;
      const url = part.image_url?.url ?? '';
      if (!IMAGE_DATA_URL.test(url) && !/^https?:\/\//.test(url)) {
        return `Invalid image: expected a URL or a base64 data URL of png, jpeg, gif or webp, got ${url.slice(0, 40)}`;
      }
    }
  }
  return undefined;
}

/** The file parts (decoded) and the text parts of a request's last user message. */
export function filesOf(request: FakeLlmRequest): { files: { filename: string; data: Buffer }[]; texts: string[] } {
  const lastUser = [...(request.body.messages ?? [])].reverse().find((m) => m.role === 'user');
  const parts = contentParts(lastUser?.content);
  return {
    files: parts.flatMap((p) => {
      const match = p.type === 'file' ? PDF_DATA_URL.exec(p.file?.file_data ?? '') : null;
      return match ? [{ filename: p.file!.filename!, data: Buffer.from(match[1]!, 'base64') }] : [];
    }),
    texts: parts.filter((p) => p.type === 'text').map((p) => p.text ?? ''),
  };
}

/** The images (decoded) of a request's last user message, for tests to compare with what a user sent. */
export function imagesOf(request: FakeLlmRequest): { mimeType: string; data: Buffer }[] {
  const lastUser = [...(request.body.messages ?? [])].reverse().find((m) => m.role === 'user');
  return contentParts(lastUser?.content).flatMap((p) => {
    const match = p.type === 'image_url' ? IMAGE_DATA_URL.exec(p.image_url?.url ?? '') : null;
    return match ? [{ mimeType: `image/${match[1]}`, data: Buffer.from(match[2]!, 'base64') }] : [];
  });
}


function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null): void {
  sendJson(res, status, { error: { message, type, param: null, code } });
}
