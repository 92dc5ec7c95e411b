import type { PairingInfo } from '../../server/admin/pairing.js';
import { refusal, unreachable } from '../admin-client.js';
import { connect, fail, type EntriesOptions } from './entries.js';
import type { ApprovedPairing } from '../../server/pairing-approval.js';

/**
 * `cococat pairing [list | approve CODE | reject CODE]`: strangers' pairing requests on the running
 * gateway (`access.pairing` in a profile). Exit 0 when done, 1 when the gateway refused (no such
 * code), 2 when it cannot be reached.
 */
export async function pairingCommand(opts: EntriesOptions & { action: string; code?: string }): Promise<number> {
  const client = connect(opts);
  if (typeof client === 'string') return fail(opts, client, 2);
  try {
    if (opts.action === 'list') {
      const answer = await client.call<{ requests: PairingInfo[] }>('GET', '/pairing');
      if (answer.status !== 200) return fail(opts, refusal(answer), 1);
      const { requests } = answer.body;
      if (requests.length === 0) opts.print('no pairing requests');
      for (const r of requests) {
        const asker = r.userName ? `${r.userId} (${r.userName})` : r.userId;
        const who = r.group ? `group ${r.conversationId} (asked by ${asker})` : asker;
        const said = r.content === null ? '' : `  "${r.content.length > 60 ? `${r.content.slice(0, 59)}…` : r.content}"`;
        opts.print(`${r.code}  ${r.entryKey}  ${who}  expires ${new Date(r.expiresAt).toISOString()}${said}`);
      }
      return 0;
    }
    const path = `/pairing/${encodeURIComponent(opts.code ?? '')}`;
    if (opts.action === 'approve') {
      const answer = await client.call<ApprovedPairing>('POST', `${path}/approve`);
      if (answer.status !== 200) return fail(opts, refusal(answer), 1);
      const r = answer.body;
      const what = r.changes.length > 0 ? r.changes.join('; ') : 'they were allowed already';
      opts.print(`approved ${r.group ? `group ${r.conversationId}` : r.userId} on ${r.entryKey} for agent ${r.agentId}: ${what}${r.notified ? '; told them so' : ''}`);
    } else {
      const answer = await client.call<PairingInfo>('DELETE', path);
      if (answer.status !== 200) return fail(opts, refusal(answer), 1);
      const r = answer.body;
      opts.print(`rejected the request of ${r.group ? `group ${r.conversationId}` : r.userId} on ${r.entryKey}`);
    }
    return 0;
  } catch (err) {
    return fail(opts, unreachable(client.base, err), 2);
  }
}
