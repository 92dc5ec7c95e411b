import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An inbound message waiting on the platform; a poll with `cursor >= this.cursor` acks (drops) it. */
export interface FakeUpdate {
  id: string;
  cursor: number;
  user: string;
  text: string;
  ts: number;
  image?: { file_id: string };
}

/**
 * A fake of the relay platform on 127.0.0.1 for tests: long-poll `/updates`, `/me`, `/messages`
 * (deduplicated by `client_msg_id`), `/files/<id>` (photos users sent), with failure injection and
 * counters to assert on.
 */
export async function startFakeRelay(opts: { token?: string } = {}) {
  const token = opts.token ?? 'relay-test-token-0123';
  let nextCursor = 0;
  let acked = 0;
  let pending: FakeUpdate[] = [];
  const waiters = new Set<() => void>();
  const deliveries = new Map<number, number>();
  const sent = new Map<string, string[]>();
  const seenClientIds = new Set<string>();
  const failures = { sends: [] as { status: number; retryAfter?: number }[], polls: [] as number[], downloads: [] as number[] };
  const counts = { polls: 0, sends: 0, downloads: 0 };
  /** Files users sent, by file id; an expired one answers 404. */
  const files = new Map<string, { data: Buffer; type: string }>();

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.headers.authorization !== `Bearer ${token}`) return json(res, 401, { error: 'invalid token' });
    if (req.method === 'GET' && url.pathname === '/me') return json(res, 200, { id: 'bot', name: 'Relay test bot' });
    if (req.method === 'GET' && url.pathname === '/updates') {
      counts.polls++;
      const failStatus = failures.polls.shift();
      if (failStatus !== undefined) return json(res, failStatus, { error: 'injected failure' });
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      // Asking from a cursor confirms every update up to it: the platform forgets those.
      acked = Math.max(acked, cursor);
      pending = pending.filter((u) => u.cursor > acked);
      const answer = () => {
        const updates = pending.filter((u) => u.cursor > cursor);
        for (const u of updates) deliveries.set(u.cursor, (deliveries.get(u.cursor) ?? 0) + 1);
        json(res, 200, { updates, cursor: updates.at(-1)?.cursor ?? cursor });
      };
      if (pending.some((u) => u.cursor > cursor)) return answer();
      const wake = () => {
        waiters.delete(wake);
        clearTimeout(timer);
        if (!res.writableEnded && !res.destroyed) answer();
      };
      const timer = setTimeout(wake, Number(url.searchParams.get('timeout_ms') ?? 25_000));
      waiters.add(wake);
      // A client that gives up (stop()) closes the socket: forget its poll.
      res.on('close', () => {
        waiters.delete(wake);
        clearTimeout(timer);
      });
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
      counts.downloads++;
      const failStatus = failures.downloads.shift();
      if (failStatus !== undefined) return json(res, failStatus, { error: 'injected failure' });
      const file = files.get(decodeURIComponent(url.pathname.slice('/files/'.length)));
      if (!file) return json(res, 404, { error: 'no such file (files are kept for a day)' });
      res.writeHead(200, { 'content-type': file.type, 'content-length': String(file.data.length) }).end(file.data);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      counts.sends++;
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const body = JSON.parse(raw) as { to: string; text: string; client_msg_id: string };
      const failure = failures.sends.shift();
      if (failure) {
        const headers: Record<string, string> = failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) };
        return json(res, failure.status, { error: 'injected failure' }, headers);
      }
      if (!seenClientIds.has(body.client_msg_id)) {
        seenClientIds.add(body.client_msg_id);
        sent.set(body.to, [...(sent.get(body.to) ?? []), body.text]);
      }
      return json(res, 200, { id: `m-${body.client_msg_id}` });
    }
    json(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => json(res, 500, { error: 'fake crashed' })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    counts,
    /** Held long polls right now. */
    get waiting() {
      return waiters.size;
    },
    get ackedCursor() {
      return acked;
    },
    /** Queues an inbound message; pushing an id again is a redelivery of that message. */
    push(user: string, text: string, id = `u-${nextCursor + 1}`): FakeUpdate {
      const update = { id, cursor: ++nextCursor, user, text, ts: Date.now() };
      pending.push(update);
      for (const wake of [...waiters]) wake();
      return update;
    },
    /** Queues an inbound photo (with an optional caption); its file is served at `/files/<file_id>`. */
    pushImage(user: string, data: Buffer, opts: { text?: string; type?: string; id?: string } = {}): FakeUpdate {
      const fileId = `f-${files.size + 1}`;
      files.set(fileId, { data, type: opts.type ?? 'image/png' });
      const update = { id: opts.id ?? `u-${nextCursor + 1}`, cursor: ++nextCursor, user, text: opts.text ?? '', ts: Date.now(), image: { file_id: fileId } };
      pending.push(update);
      for (const wake of [...waiters]) wake();
      return update;
    },
    /** Forgets a file, as the platform does after a day: downloads answer 404. */
    expireFile(fileId: string) {
      files.delete(fileId);
    },
    failNextDownloads(n: number, status: number) {
      for (let i = 0; i < n; i++) failures.downloads.push(status);
    },
    /** How many times the update at this cursor was handed out. */
    deliveries: (cursor: number) => deliveries.get(cursor) ?? 0,
    /** Texts the platform shows to `user`, once per client_msg_id. */
    received: (user: string) => [...(sent.get(user) ?? [])],
    failNextSends(n: number, status: number, retryAfterSeconds?: number) {
      for (let i = 0; i < n; i++) failures.sends.push({ status, retryAfter: retryAfterSeconds });
    },
    failNextPolls(n: number, status: number) {
      for (let i = 0; i < n; i++) failures.polls.push(status);
    },
    async close() {
      for (const wake of [...waiters]) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeRelay = Awaited<ReturnType<typeof startFakeRelay>>;
