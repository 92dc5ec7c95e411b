import { resolve } from 'node:path';
import { resolveReferences, SecretVault } from '../../config/secrets.js';
import { loadWorkspace } from '../../config/workspace.js';
import { gatewayBase, unreachable } from '../admin-client.js';

export interface SendOptions {
  workspace: string;
  entryKey: string;
  text: string;
  userId: string;
  url?: string;
  apiKey?: string;
  env: Record<string, string | undefined>;
}

/** Sends one message to a web_api entry and prints the reply; returns the exit code. */
export async function sendCommand(opts: SendOptions): Promise<number> {
  const root = resolve(opts.workspace);
  const snapshot = loadWorkspace(root);
  let apiKey = opts.apiKey ?? opts.env.COCOCAT_API_KEY;
  if (!apiKey) {
    const entry = snapshot.entries.find((e) => e.key === opts.entryKey);
    if (!entry || entry.channel !== 'web_api') {
      console.error(`no web_api entry "${opts.entryKey}" in ${root}; entries: ${snapshot.entries.map((e) => e.key).join(', ') || 'none'}`);
      return 2;
    }
    const config = resolveReferences(entry.config, { env: opts.env, vault: new SecretVault(root), file: entry.file });
    apiKey = String(config.api_key ?? '');
  }
  const base = gatewayBase(snapshot.settings.server, opts.env, opts.url);
  let response: Response;
  try {
    response = await fetch(`${base}/api/v1/chat/${encodeURIComponent(opts.entryKey)}?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: opts.userId, content: opts.text }),
    });
  } catch (err) {
    console.error(unreachable(base, err));
    return 2;
  }
  const body = (await response.json().catch(() => ({}))) as { reply?: { text: string }; messageId?: string; error?: { message: string } };
  if (response.status === 200 && body.reply) {
    console.log(body.reply.text);
    return 0;
  }
  if (response.status === 202) {
    console.error(`accepted as message ${body.messageId}; no reply within the wait time (see the events stream)`);
    return 3;
  }
  console.error(`HTTP ${response.status}: ${body.error?.message ?? 'unexpected answer'}`);
  return 1;
}
