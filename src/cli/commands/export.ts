import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { loadWorkspace } from '../../config/workspace.js';
import { adminClient, refusal, unreachable } from '../admin-client.js';

export interface ExportOptions {
  workspace: string;
  url?: string;
  env: Record<string, string | undefined>;
  /** Which messages: `entry`, `userId`, `conversationId`, `text` (contained in the message), `since`, `until` (ISO 8601 or epoch ms), `limit`. */
  filter: Record<string, string | undefined>;
  /** Where the lines go (standard output). */
  out: Writable;
  /** Messages for the person (standard error, so a redirected export holds only lines). */
  print: (line: string) => void;
}

/**
 * Writes the running gateway's message log as JSON Lines (`GET /api/admin/messages/export`), newest
 * first, as it streams in. Exit 0 when the export ended, 1 when the gateway refused it (a bad
 * filter) or it broke off, 2 when the gateway cannot be reached.
 */
export async function exportCommand(opts: ExportOptions): Promise<number> {
  const client = adminClient(loadWorkspace(resolve(opts.workspace)).settings.server, opts.env, opts.url);
  if (typeof client === 'string') return fail(opts, client, 2);
  const query = new URLSearchParams(Object.entries(opts.filter).filter((e): e is [string, string] => e[1] !== undefined));
  let res: Response;
  try {
    res = await client.get(`/messages/export${query.size > 0 ? `?${query}` : ''}`);
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
  if (res.status !== 200 || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    return fail(opts, refusal({ status: res.status, body }), 1);
  }
  let lines = 0;
  try {
    for await (const chunk of res.body) {
      const text = Buffer.from(chunk).toString('utf8');
      for (const c of text) if (c === '\n') lines++;
      if (!opts.out.write(text)) await new Promise((r) => opts.out.once('drain', r));
    }
  } catch (err) {
    return fail(opts, `the export broke off after ${lines} message(s): ${(err as Error).message}`, 1);
  }
  opts.print(`exported ${lines} message(s)`);
  return 0;
}

function fail(opts: ExportOptions, message: string, code: number): number {
  opts.print(message);
  return code;
}
