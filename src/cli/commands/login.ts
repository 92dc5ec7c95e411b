import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loginPending, type LoginStatus } from '../../channels/login.js';
import { loadWorkspace } from '../../config/workspace.js';
import { adminClient, refusal, unreachable } from '../admin-client.js';

export interface LoginOptions {
  workspace: string;
  entryKey: string;
  url?: string;
  env: Record<string, string | undefined>;
  print: (line: string) => void;
  /** Ends the wait early (Ctrl-C): the login is cancelled on the gateway. */
  signal?: AbortSignal;
  pollMs?: number;
}

type Login = LoginStatus & { key: string };

/**
 * Logs an entry in by QR code (personal WeChat) through the running gateway's admin API: prints
 * the code in the terminal, follows the login until it is confirmed or ends, and cancels it when
 * interrupted. For servers without a browser; the panel does the same with a click.
 */
export async function loginCommand(opts: LoginOptions): Promise<number> {
  const root = resolve(opts.workspace);
  const snapshot = loadWorkspace(root);
  const entry = snapshot.entries.find((e) => e.key === opts.entryKey);
  if (!entry) {
    opts.print(`no entry "${opts.entryKey}" in ${root}; entries: ${snapshot.entries.map((e) => e.key).join(', ') || 'none'}`);
    return 2;
  }
  const client = adminClient(snapshot.settings.server, opts.env, opts.url);
  if (typeof client === 'string') {
    opts.print(client);
    return 2;
  }
  const path = `/${entry.target.kind}s/${encodeURIComponent(entry.target.id)}/entries/${encodeURIComponent(entry.id)}/login`;
  const call = (method: 'GET' | 'POST' | 'DELETE') => client.call<Login>(method, path);

  let answer;
  try {
    answer = await call('POST');
  } catch (err) {
    opts.print(unreachable(client.base, err));
    return 2;
  }
  if (answer.status !== 200) {
    opts.print(refusal(answer));
    return 1;
  }
  let shownCode = '';
  let shownState = '';
  for (;;) {
    const login = answer.body;
    if (login.qrContent && login.qrContent !== shownCode && login.state === 'waiting') {
      shownCode = login.qrContent;
      opts.print(await terminalQr(login.qrContent));
      opts.print(`Scan it with WeChat (or open ${login.qrContent} on the phone). It works until ${new Date(login.expiresAt ?? 0).toLocaleTimeString()}.`);
    }
    if (login.state !== shownState) {
      shownState = login.state;
      if (login.state === 'scanned') opts.print('Scanned: confirm the login on the phone.');
    }
    if (login.state === 'confirmed') {
      opts.print(`Logged in as ${login.account ?? 'the scanned account'}; the entry ${opts.entryKey} restarts with its new credentials.`);
      return 0;
    }
    if (!loginPending(login.state)) {
      opts.print(`Login ${login.state}: ${login.message ?? ''}`.trim());
      return 1;
    }
    // A timer that keeps the process alive (the clock's are unref'd), ended early by Ctrl-C.
    const waited = await sleep(opts.pollMs ?? 1_000, undefined, { signal: opts.signal }).then(
      () => true,
      () => false, // interrupted
    );
    if (!waited) {
      await call('DELETE').catch(() => undefined);
      opts.print('Login cancelled.');
      return 130;
    }
    answer = await call('GET');
    if (answer.status !== 200) {
      opts.print(refusal(answer));
      return 1;
    }
  }
}

/** The code as text blocks for the terminal; the QR library loads only for this command. */
async function terminalQr(text: string): Promise<string> {
  const { toString } = await import('qrcode');
  return toString(text, { type: 'utf8', margin: 2 });
}
