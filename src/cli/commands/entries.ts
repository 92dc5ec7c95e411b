import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadWorkspace } from '../../config/workspace.js';
import type { EntryStatus } from '../../core/entry-status.js';
import type { Dashboard } from '../../server/admin/dashboard.js';
import type { ForgottenUser } from '../../store/store.js';
import { adminClient, refusal, unreachable, type AdminClient } from '../admin-client.js';

export interface EntriesOptions {
  workspace: string;
  url?: string;
  env: Record<string, string | undefined>;
  print: (line: string) => void;
}

/** How long `restart` follows the entry before it says the start is still under way. */
const RESTART_WAIT_MS = 30_000;

/**
 * Prints every entry of the running gateway with its state, traffic and last error, then the agents
 * failing run after run and notices the team's chat does not take. Exits 1 when an enabled entry is
 * in error, an agent fails or notices cannot be sent, so a cron job or a health check can call it.
 */
export async function statusCommand(opts: EntriesOptions): Promise<number> {
  const client = connect(opts);
  if (typeof client === 'string') return fail(opts, client, 2);
  let entries: EntryStatus[];
  let failing: Dashboard['failingAgents'];
  let unsent: Dashboard['unsentNotices'];
  try {
    const answer = await client.call<{ entries: EntryStatus[] }>('GET', '/entries');
    if (answer.status !== 200) return fail(opts, refusal(answer), 1);
    entries = answer.body.entries;
    const dashboard = await client.call<Pick<Dashboard, 'failingAgents' | 'unsentNotices'>>('GET', '/dashboard');
    failing = dashboard.status === 200 ? (dashboard.body.failingAgents ?? []) : [];
    unsent = dashboard.status === 200 ? (dashboard.body.unsentNotices ?? null) : null;
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
  if (entries.length === 0) opts.print('no entries');
  const rows = entries.map((e) => [e.key, e.channel, e.enabled ? e.state : 'disabled', `${e.messagesIn} in / ${e.messagesOut} out`, problem(e)]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) opts.print(row.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd());
  for (const a of failing) opts.print(`agent ${a.agentId} failing: its last ${a.failures} runs failed, the first at ${new Date(a.since).toISOString()}: ${a.reason}`);
  if (unsent) opts.print(`notices: ${unsent.count} not sent yet, the oldest from ${new Date(unsent.since).toISOString()}: ${unsent.lastError}`);
  return entries.some((e) => e.enabled && e.state === 'error') || failing.length > 0 || unsent ? 1 : 0;
}

/** Stops and starts one entry now (skipping a pending backoff), then follows it until it runs or fails. */
export async function restartCommand(opts: EntriesOptions & { entryKey: string; pollMs?: number }): Promise<number> {
  const client = connect(opts);
  if (typeof client === 'string') return fail(opts, client, 2);
  const path = `/entries/${encodeURIComponent(opts.entryKey)}`;
  try {
    const answer = await client.call('POST', `${path}/restart`);
    if (answer.status !== 200) return fail(opts, refusal(answer), answer.status === 404 ? 2 : 1);
    opts.print(`restarting ${opts.entryKey}…`);
    const deadline = Date.now() + RESTART_WAIT_MS;
    for (;;) {
      await sleep(opts.pollMs ?? 250);
      const status = (await client.call<EntryStatus>('GET', `${path}/status`)).body;
      if (status.state === 'running' || status.state === 'standby') {
        opts.print(`${opts.entryKey} is ${status.state}${status.state === 'standby' ? ' (another gateway process runs it)' : ''}`);
        return 0;
      }
      if (status.state === 'error' || Date.now() > deadline) {
        return fail(opts, `${opts.entryKey} is ${status.state}${status.lastError ? `: ${status.lastError.message}` : ''}`, 1);
      }
    }
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
}

/**
 * Deletes what the running gateway keeps of one user of an entry (a request to be forgotten). Exit 0
 * when nothing of theirs is left, 1 when messages still in flight were kept (run it again once they
 * are answered), 2 when the gateway or the entry cannot be reached.
 */
export async function forgetCommand(opts: EntriesOptions & { entryKey: string; userId: string }): Promise<number> {
  const client = connect(opts);
  if (typeof client === 'string') return fail(opts, client, 2);
  try {
    const path = `/entries/${encodeURIComponent(opts.entryKey)}/users/${encodeURIComponent(opts.userId)}`;
    const answer = await client.call<ForgottenUser>('DELETE', path);
    if (answer.status !== 200) return fail(opts, refusal(answer), answer.status === 404 ? 2 : 1);
    const r = answer.body;
    opts.print(`forgot ${opts.userId} on ${opts.entryKey}: ${r.messages} message(s), ${r.replies} reply chunk(s), ${r.turns} history turn(s), ${r.feedItems} feed item(s)`);
    if (r.kept === 0) return 0;
    return fail(opts, `${r.kept} message(s) still in flight were kept: run it again once they are answered`, 1);
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
}

export function connect(opts: EntriesOptions): AdminClient | string {
  return adminClient(loadWorkspace(resolve(opts.workspace)).settings.server, opts.env, opts.url);
}

function problem(e: EntryStatus): string {
  if (e.state === 'error' && e.lastError) return `${e.lastError.code}: ${e.lastError.message}`;
  if (e.transport && e.transport.state !== 'connected' && e.transport.state !== 'listening') return `transport ${e.transport.state}`;
  return '';
}

export function fail(opts: EntriesOptions, message: string, code: number): number {
  opts.print(message);
  return code;
}
