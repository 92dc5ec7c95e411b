import type { FastifyInstance, FastifyRequest } from 'fastify';
import { openEventStream, sseEvent } from '../../channels/shared/event-stream.js';
import { countByState, type EntryStatus } from '../../core/entry-status.js';
import type { Gateway } from '../../gateway.js';

/** How often the live stream looks for changes; it only writes when something changed. */
const PUSH_INTERVAL_MS = 2_000;
const KEEPALIVE_MS = 15_000;

export interface DashboardEntry extends EntryStatus {
  lastHour: { in: number; out: number };
  mailbox: number;
  dead: number;
  webhookUrl: string | null;
}

/** Everything the panel's dashboard shows, in one answer. */
export async function buildDashboard(gateway: Gateway, base: string) {
  const now = gateway.clock.now();
  const [backlog, oldest, unsent] = await Promise.all([gateway.store.entryBacklog(), gateway.store.oldestWaiting(), unsentNotices(gateway)]);
  const activity = gateway.keeper.activity;
  const specs = new Map(gateway.snapshot.entries.map((spec) => [spec.key, spec]));
  const entries: DashboardEntry[] = gateway.keeper.status().map((status) => {
    const spec = specs.get(status.key);
    return {
      ...status,
      lastHour: activity.lastHour(now, status.key),
      mailbox: backlog.get(status.key)?.mailbox ?? 0,
      dead: backlog.get(status.key)?.dead ?? 0,
      webhookUrl: spec ? webhookUrl(gateway, spec, base) : null,
    };
  });
  const states = countByState(entries.map((e) => e.state));
  const series = activity.series(now);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  let mailbox = 0;
  let dead = 0;
  for (const b of backlog.values()) {
    mailbox += b.mailbox;
    dead += b.dead;
  }
  return {
    at: now,
    // What is wrong in the workspace files (an entry with a bad config never starts): shown first.
    problems: gateway.snapshot.problems,
    // Agents whose runs fail one after another (ops/health-watch.ts): users get the fallback reply.
    failingAgents: gateway.health.failingAgents(),
    // Notices to the team that could not go out yet (a revoked robot key): the team would not know.
    unsentNotices: unsent,
    entries,
    totals: {
      lastHour: { in: sum(series.in), out: sum(series.out) },
      mailbox,
      dead,
      entries: states,
      // Times, not ages: the stream writes only when something changed, and a time changes only when the oldest does.
      oldestWaitingAt: { inbound: oldest.inboundAt, outbound: oldest.outboundAt },
    },
    series,
  };
}

export type Dashboard = Awaited<ReturnType<typeof buildDashboard>>;

/** When the latest notices include one the receiver did not take yet: how many wait, since when, and why; else null. */
async function unsentNotices(gateway: Gateway): Promise<{ count: number; since: number; lastError: string } | null> {
  const refused = (await gateway.store.listNotices({ limit: 50 })).filter((n) => n.status === 'waiting' && n.lastError !== null);
  if (refused.length === 0) return null;
  // Notices go in order: those behind the refused one wait too.
  return { count: (await gateway.store.stats()).noticesWaiting, since: refused.at(-1)!.createdAt, lastError: refused[0]!.lastError! };
}

/** Where platforms should post an entry's webhooks, or null for entries that need none. */
export function webhookUrl(gateway: Gateway, entry: { key: string; channel: string; config: Record<string, unknown> }, base: string): string | null {
  if (!gateway.registry.has(entry.channel)) return null;
  const path = gateway.registry.get(entry.channel).webhookPath?.(entry.key, entry.config as never);
  return path ? `${base}${path}` : null;
}

/** `server.public_url` when set, else the address this request came in at. */
export function publicBase(gateway: Gateway, request: FastifyRequest): string {
  const configured = gateway.snapshot.settings.server.public_url;
  return (configured ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
}

/** `GET /dashboard` once, and `GET /events`: the same object over Server-Sent Events whenever it changes. */
export function registerDashboardRoutes(app: FastifyInstance, gateway: Gateway): void {
  const streams = new AbortController();
  app.addHook('preClose', async () => streams.abort());

  app.get('/dashboard', async (request) => buildDashboard(gateway, publicBase(gateway, request)));

  app.get('/events', async (request, reply) => {
    const base = publicBase(gateway, request);
    const res = openEventStream(reply, 2000);
    const closed = new AbortController();
    const stop = () => closed.abort();
    request.raw.on('close', stop);
    streams.signal.addEventListener('abort', stop, { once: true });
    let last = '';
    let lastWrite = Date.now();
    try {
      while (!closed.signal.aborted) {
        // `at` changes every time; compare without it so an idle gateway sends nothing.
        const dashboard = await buildDashboard(gateway, base);
        const { at: _at, ...comparable } = dashboard;
        const fingerprint = JSON.stringify(comparable);
        if (fingerprint !== last) {
          last = fingerprint;
          res.write(sseEvent('dashboard', dashboard));
          lastWrite = Date.now();
        } else if (Date.now() - lastWrite >= KEEPALIVE_MS) {
          res.write(': keepalive\n\n');
          lastWrite = Date.now();
        }
        // Ends early (rejecting) when the client leaves or the server closes; the loop then stops.
        await gateway.clock.sleep(PUSH_INTERVAL_MS, closed.signal).catch(() => undefined);
      }
    } catch (err) {
      request.log.warn({ err: (err as Error).message }, 'dashboard stream ended by an error');
    } finally {
      streams.signal.removeEventListener('abort', stop);
      res.end();
    }
  });
}
