import { Agent, request } from 'node:http';
import { parseEventBlock, parseReplyEvent } from '../../test/helpers/sse.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request over `agent` (keep-alive); resolves with status and body, rejects on socket errors. */
export function httpRequest(
  agent: Agent,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A `?wait=true` POST asking for its answer as an event stream: the milliseconds until the first
 * `partial` event and until the `reply` event, with the reply's text.
 */
export function streamedAnswer(
  agent: Agent,
  url: string,
  init: { headers: Record<string, string>; body: string; timeoutMs?: number },
): Promise<{ status: number; firstPartialMs?: number; replyMs?: number; replyText?: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...init.headers, accept: 'text/event-stream' }, agent }, (res) => {
      let buffer = '';
      let firstPartialMs: number | undefined;
      let replyMs: number | undefined;
      let replyText: string | undefined;
      res.setEncoding('utf8');
      res.on('data', (piece: string) => {
        buffer += piece;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const e = parseEventBlock(block);
          if (e?.event === 'partial' && firstPartialMs === undefined) firstPartialMs = performance.now() - t0;
          if (e?.event === 'reply' && replyMs === undefined) {
            replyMs = performance.now() - t0;
            replyText = (e.data as { text?: string }).text;
          }
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, firstPartialMs, replyMs, replyText }));
      res.on('error', reject);
    });
    req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface SseReply {
  id: number;
  data: { messageId: string; text: string; seq?: number; chunk?: { index: number; count: number } };
}

/**
 * A web_api SSE stream read with node:http (much cheaper than fetch for hundreds of streams).
 * Calls `onReply` for every `reply` event; `close()` ends it.
 */
export class SseStream {
  private req?: ReturnType<typeof request>;
  connected = false;
  error?: string;

  constructor(
    private readonly url: string,
    private readonly apiKey: string,
    private readonly onReply: (event: SseReply) => void,
  ) {}

  /** Resolves once the 200 and the first bytes (`retry:`) arrived. */
  connect(agent: Agent, lastEventId = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers = { authorization: `Bearer ${this.apiKey}`, accept: 'text/event-stream', 'last-event-id': String(lastEventId) };
      const req = request(this.url, { headers, agent }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`SSE connect: HTTP ${res.statusCode}`));
          return;
        }
        this.connected = true;
        res.setEncoding('utf8');
        let buffer = '';
        let first = true;
        res.on('data', (chunk: string) => {
          if (first) {
            first = false;
            resolve();
          }
          buffer += chunk;
          let idx: number;
          while ((idx = buffer.indexOf('\n\n')) >= 0) {
            this.parse(buffer.slice(0, idx));
            buffer = buffer.slice(idx + 2);
          }
        });
        res.on('close', () => (this.connected = false));
        res.on('error', (err) => (this.error = err.message));
      });
      req.on('error', (err) => {
        this.connected = false;
        this.error = err.message;
        reject(err);
      });
      req.end();
      this.req = req;
    });
  }

  private parse(block: string): void {
    const event = parseReplyEvent(block);
    if (event) this.onReply({ id: event.id, data: event.data as SseReply['data'] });
  }

  close(): void {
    this.req?.destroy();
  }
}
