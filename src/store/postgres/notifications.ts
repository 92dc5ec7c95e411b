import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { FeedAppended, StoreSignal } from '../store.js';

/** The NOTIFY channel every CocoCat store writes to; payloads name their schema. */
export const NOTIFY_CHANNEL = 'cococat_store';

const MAX_RECONNECT_DELAY_MS = 30_000;
/** A NOTIFY payload must stay under 8 000 bytes; this leaves room for the envelope's escaping. */
export const SIGNAL_MAX_BYTES = 7_800;

interface Payload {
  /** Schema: several deployments may share one database. */
  s: string;
  /** The store instance (process) that wrote: it wakes its own readers and senders itself. */
  o: string;
  /** A feed item appended, reply chunks stored without a sender, or a signal (nothing stored). */
  k: 'feed' | 'outbox' | 'signal';
  e: string;
  c?: string;
  r?: string;
  /** A signal's topic and body. */
  t?: string;
  b?: string;
}

/**
 * Tells a gateway process what other processes wrote that it should act on now, over one LISTEN
 * connection opened on first use: feed items (a reply stored elsewhere for a stream or held request
 * here) and reply chunks left for whichever process runs their entry. Writes notify in their own
 * transaction, so a notification arrives only once its rows can be read. A dropped connection is
 * reopened with backoff; readers and senders also poll, so a lost notification only delays a reply.
 */
export class StoreNotifications {
  /** Sent with every notification of this store instance. */
  readonly origin = randomUUID();
  private readonly feedListeners = new Set<(e: FeedAppended) => void>();
  private readonly outboxListeners = new Set<(entryKey: string) => void>();
  private readonly signalListeners = new Set<(s: StoreSignal) => void>();
  private client?: pg.Client;
  private started = false;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {}

  /** The payload a feed append in this store sends with `pg_notify`. */
  feedPayload(entryKey: string, conversationId: string, replyTo: string): string {
    const p: Payload = { s: this.schema, o: this.origin, k: 'feed', e: entryKey, c: conversationId, r: replyTo };
    return JSON.stringify(p);
  }

  /** The payload for reply chunks of an entry stored without a sender. */
  outboxPayload(entryKey: string): string {
    const p: Payload = { s: this.schema, o: this.origin, k: 'outbox', e: entryKey };
    return JSON.stringify(p);
  }

  /** The payload of a signal, or undefined when it is over SIGNAL_MAX_BYTES. */
  signalPayload(entryKey: string, topic: string, body: string): string | undefined {
    const p: Payload = { s: this.schema, o: this.origin, k: 'signal', e: entryKey, t: topic, b: body };
    const payload = JSON.stringify(p);
    return Buffer.byteLength(payload, 'utf8') <= SIGNAL_MAX_BYTES ? payload : undefined;
  }

  onSignal(listener: (s: StoreSignal) => void): () => void {
    return this.subscribe(this.signalListeners, listener);
  }

  onFeed(listener: (e: FeedAppended) => void): () => void {
    return this.subscribe(this.feedListeners, listener);
  }

  onOutbox(listener: (entryKey: string) => void): () => void {
    return this.subscribe(this.outboxListeners, listener);
  }

  private subscribe<L>(set: Set<L>, listener: L): () => void {
    set.add(listener);
    if (!this.started) {
      this.started = true;
      void this.connect(0);
    }
    return () => set.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(failures: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'cococat-notify' });
    let lost = false;
    // Losses in a row, for the backoff; reset once this connection is up.
    let streak = failures;
    const reconnect = () => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      const delay = Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** streak);
      this.retryTimer = setTimeout(() => void this.connect(streak + 1), delay);
      this.retryTimer.unref();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (n) => this.dispatch(n.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      reconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    streak = 0;
  }

  private dispatch(raw: string | undefined): void {
    let p: Payload;
    try {
      p = JSON.parse(raw ?? '') as Payload;
    } catch {
      return;
    }
    if (p.s !== this.schema || p.o === this.origin) return;
    if (p.k === 'outbox') {
      for (const listener of this.outboxListeners) listener(p.e);
      return;
    }
    if (p.k === 'signal') {
      const signal: StoreSignal = { entryKey: p.e, topic: p.t ?? '', body: p.b ?? '' };
      for (const listener of this.signalListeners) listener(signal);
      return;
    }
    const event: FeedAppended = { entryKey: p.e, conversationId: p.c ?? '', replyTo: p.r ?? '' };
    for (const listener of this.feedListeners) listener(event);
  }
}
