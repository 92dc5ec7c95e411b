import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { FeedAppended } from '../store.js';

/** The NOTIFY channel every CocoCat store writes feed appends to; payloads name their schema. */
export const FEED_CHANNEL = 'cococat_feed';

const MAX_RECONNECT_DELAY_MS = 30_000;

interface Payload {
  /** Schema: several deployments may share one database. */
  s: string;
  /** The store instance (process) that appended: it wakes its own readers itself. */
  o: string;
  e: string;
  c: string;
  r: string;
}

/**
 * Tells a gateway process about feed items other processes appended (a reply stored elsewhere for
 * a stream or held request here), over one LISTEN connection opened on first use. Appends notify
 * in their own transaction, so a notification arrives only once the item can be read. A dropped
 * connection is reopened with backoff; readers also poll, so a notification lost meanwhile only
 * delays a reply.
 */
export class FeedNotifications {
  /** Sent with every notification of this store instance. */
  readonly origin = randomUUID();
  private readonly listeners = new Set<(e: FeedAppended) => void>();
  private client?: pg.Client;
  private started = false;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {}

  /** The payload an append in this store sends with `pg_notify`. */
  payload(entryKey: string, conversationId: string, replyTo: string): string {
    const p: Payload = { s: this.schema, o: this.origin, e: entryKey, c: conversationId, r: replyTo };
    return JSON.stringify(p);
  }

  subscribe(listener: (e: FeedAppended) => void): () => void {
    this.listeners.add(listener);
    if (!this.started) {
      this.started = true;
      void this.connect(0);
    }
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(failures: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'cococat-feed' });
    let lost = false;
    const reconnect = () => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      const delay = Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** failures);
      this.retryTimer = setTimeout(() => void this.connect(failures + 1), delay);
      this.retryTimer.unref();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (n) => this.dispatch(n.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${FEED_CHANNEL}`);
    } catch {
      reconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    // Connected: the next loss starts the backoff from the beginning again.
    failures = 0;
  }

  private dispatch(raw: string | undefined): void {
    let p: Payload;
    try {
      p = JSON.parse(raw ?? '') as Payload;
    } catch {
      return;
    }
    if (p.s !== this.schema || p.o === this.origin) return;
    const event: FeedAppended = { entryKey: p.e, conversationId: p.c, replyTo: p.r };
    for (const listener of this.listeners) listener(event);
  }
}
