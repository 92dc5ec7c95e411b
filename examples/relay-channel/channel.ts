import { backoffDelay, type BackoffPolicy } from '../../src/core/backoff.js';
import { Channel } from '../../src/core/channel.js';
import { CocoError, describeError } from '../../src/core/errors.js';
import type { ChatMessage, OutgoingMessage, SendContext, SendResult } from '../../src/core/message.js';
import type { RelayChannelConfig } from './config.js';

/** One inbound message as the platform sends it. */
interface RelayUpdate {
  id: string;
  cursor: number;
  user: string;
  text: string;
  ts: number;
  /** A photo the user sent: its file id on the platform (downloaded by `fetchRelayMedia`). */
  image?: { file_id: string };
}

/** Waits between failed polls; jittered so that many entries do not retry in lockstep. */
const POLL_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };
/** After this many failed polls in a row the entry is reported broken, and the SceneKeeper restarts it. */
const MAX_FAILURES = 5;
const REQUEST_TIMEOUT_MS = 15_000;

export class RelayChannel extends Channel<RelayChannelConfig> {
  static override channelType = 'relay';

  private config?: RelayChannelConfig;
  /** The last update handed to the mailbox; the next poll sends it, which acks everything up to it. */
  private cursor = 0;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;

  override async start(_sceneId: string, config: RelayChannelConfig): Promise<void> {
    this.config = { ...config, base_url: config.base_url.replace(/\/+$/, '') };
    // One authenticated call first: a wrong token fails start() with a clear reason instead of a loop of 401s.
    const res = await this.request('GET', '/me').catch((err: unknown) => {
      throw new CocoError('COCO_ERR_CHANNEL_START', `relay: cannot reach ${config.base_url}: ${describeError(err)}`, {
        channel: 'relay',
        cause: err,
        retryable: true,
      });
    });
    await res.body?.cancel();
    if (res.status === 401) {
      throw new CocoError('COCO_ERR_CHANNEL_START', 'relay: the platform rejected the token (401 from GET /me); check the entry token', {
        channel: 'relay',
      });
    }
    if (!res.ok) throw new CocoError('COCO_ERR_CHANNEL_START', `relay: GET /me answered ${res.status}`, { channel: 'relay', retryable: true });
    // Ready: receive in the background; stop() ends the loop.
    this.loop = this.receive();
  }

  override async send(reply: OutgoingMessage, _userId: string, context: SendContext): Promise<SendResult> {
    // client_msg_id is stable across retries of this chunk, so the platform shows a retried send once.
    const body = { to: context.conversationId, text: reply.text, client_msg_id: context.idempotencyKey };
    let res: Response;
    try {
      res = await this.request('POST', '/messages', body);
    } catch (err) {
      // Network errors and timeouts: the message may or may not have arrived; the idempotency key makes a retry safe.
      throw new CocoError('COCO_ERR_CHANNEL_SEND', `relay: POST /messages failed: ${describeError(err)}`, {
        channel: 'relay',
        cause: err,
        retryable: true,
      });
    }
    if (res.ok) return { platformMessageId: ((await res.json()) as { id?: string }).id };
    await res.body?.cancel();
    const seconds = Number(res.headers.get('retry-after') ?? NaN);
    throw new CocoError('COCO_ERR_CHANNEL_SEND', `relay: POST /messages answered ${res.status}`, {
      channel: 'relay',
      // 429 and 5xx can pass later; any other 4xx fails the same way every time.
      retryable: res.status === 429 || res.status >= 500,
      retryAfterMs: res.status === 429 && seconds > 0 ? seconds * 1000 : undefined,
    });
  }

  override async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Long-polls until stopped. Never rejects: failures back off, and too many in a row are reported. */
  private async receive(): Promise<void> {
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        for (const update of await this.poll()) {
          await this.onMessage(this.toChatMessage(update));
          // Only now is the update durable in the mailbox: move past it (ack-after-durable).
          this.cursor = update.cursor;
        }
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        if (failures >= MAX_FAILURES) {
          this.ctx.reportError(err); // the SceneKeeper marks the entry `error`, stops us and starts a fresh instance
          return;
        }
        this.ctx.log.warn({ err: describeError(err), failures }, 'relay: receive failed; backing off');
        // The injected clock makes this testable without waiting; the signal makes stop() end it at once.
        await this.ctx.clock.sleep(backoffDelay(POLL_BACKOFF, failures), signal).catch(() => undefined);
      }
    }
  }

  private async poll(): Promise<RelayUpdate[]> {
    const timeout = this.settings.poll_timeout_ms;
    const res = await this.request('GET', `/updates?cursor=${this.cursor}&timeout_ms=${timeout}`, undefined, timeout + REQUEST_TIMEOUT_MS);
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`GET /updates answered ${res.status}`);
    }
    return ((await res.json()) as { updates: RelayUpdate[] }).updates;
  }

  private toChatMessage(update: RelayUpdate): ChatMessage {
    return {
      channelType: 'relay',
      sceneId: this.sceneId,
      userId: update.user,
      conversationId: update.user, // direct chats only
      // The text describes the image too: agents that do not read images (and history) get that.
      content: update.image ? `${update.text} [image]`.trim() : update.text,
      msgType: update.image && !update.text ? 'image' : 'text',
      ...(update.image ? { media: [{ kind: 'image' as const, ref: update.image.file_id }] } : {}),
      msgId: update.id, // the platform's id: a redelivery carries the same one, so the mailbox drops it
      timestamp: update.ts,
      isGroup: false,
      mentionsBot: true,
      raw: update,
    };
  }

  private get settings(): RelayChannelConfig {
    if (!this.config) throw new CocoError('COCO_ERR_CHANNEL_NOT_RUNNING', 'relay channel not started');
    return this.config;
  }

  /** Every call ends on stop() or after its own timeout, so nothing hangs. */
  private request(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Response> {
    return fetch(this.settings.base_url + path, {
      method,
      headers: { authorization: `Bearer ${this.settings.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(timeoutMs)]),
    });
  }
}
