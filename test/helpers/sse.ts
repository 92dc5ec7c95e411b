import { TEST_API_KEY } from './workspace.js';

/** One SSE event block ("id: …\nevent: …\ndata: …"); undefined for comments and the retry line. */
export function parseEventBlock(block: string): { event: string; id?: number; data: any } | undefined {
  let id: number | undefined;
  let data: string | undefined;
  let event = 'message';
  for (const line of block.split('\n')) {
    if (line.startsWith('id: ')) id = Number(line.slice(4));
    else if (line.startsWith('data: ')) data = (data ?? '') + line.slice(6);
    else if (line.startsWith('event: ')) event = line.slice(7);
  }
  if (data === undefined) return undefined;
  return { event, ...(id !== undefined ? { id } : {}), data: JSON.parse(data) };
}

/**
 * POSTs a chat message to a web_api entry with `?wait=true`, asking for an event stream (with the
 * test API key); resolves with the events once the server ends the stream.
 */
export async function postForEvents(address: string, entryKey: string, body: Record<string, unknown>) {
  const res = await fetch(`${address}/api/v1/chat/${entryKey}?wait=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  const events = (await res.text()).split('\n\n').map(parseEventBlock).filter((e) => e !== undefined);
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

/** One SSE event block as a reply event, or undefined for anything else. */
export function parseReplyEvent(block: string): SseEvent | undefined {
  const e = parseEventBlock(block);
  return e?.event === 'reply' && e.id !== undefined ? { id: e.id, data: e.data } : undefined;
}

/** A minimal SSE reader over fetch, for tests: collects `reply` events and remembers the last id. */
export interface SseEvent {
  id: number;
  data: any;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  /** `partial` events (a reply being written), in arrival order. */
  readonly partials: { messageId: string; text: string }[] = [];
  /** Every event's name and data in arrival order, replies and partials interleaved as they came. */
  readonly sequence: { event: string; data: any }[] = [];
  lastEventId?: number;
  private controller?: AbortController;
  private done?: Promise<void>;
  connected = false;

  constructor(
    public url: string,
    private readonly apiKey: string,
  ) {}

  /** Connects (resuming after lastEventId when set) and reads in the background until closed or dropped. */
  async connect(): Promise<void> {
    this.controller = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}`, accept: 'text/event-stream' };
    if (this.lastEventId !== undefined) headers['last-event-id'] = String(this.lastEventId);
    const res = await fetch(this.url, { headers, signal: this.controller.signal });
    if (res.status !== 200 || !res.body) throw new Error(`SSE connect failed: HTTP ${res.status} ${await res.text()}`);
    this.connected = true;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    this.done = (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let idx: number;
          while ((idx = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, idx);
            buffer = buffer.slice(idx + 2);
            this.parse(block);
          }
        }
      } catch {
        // dropped or closed
      } finally {
        this.connected = false;
      }
    })();
  }

  private parse(block: string): void {
    const any = parseEventBlock(block);
    if (any) this.sequence.push({ event: any.event, data: any.data });
    if (any?.event === 'partial') this.partials.push(any.data);
    const event = parseReplyEvent(block);
    if (!event) return;
    this.events.push(event);
    this.lastEventId = event.id;
  }

  async close(): Promise<void> {
    this.controller?.abort();
    await this.done;
  }
}

/** How many reply events each message id got, over all the clients' streams. */
export function repliesPerMessage(clients: readonly SseClient[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of clients) for (const e of c.events) counts.set(e.data.messageId, (counts.get(e.data.messageId) ?? 0) + 1);
  return counts;
}
