import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { resolveReferences, SecretVault } from '../../config/secrets.js';
import { loadWorkspace } from '../../config/workspace.js';
import { AGENT_IMAGE_TYPES, sniffImageType } from '../../core/media.js';
import { serverSentEvents } from '../../core/server-sent-events.js';
import { gatewayBase, refusal, unreachable } from '../admin-client.js';

export interface SendOptions {
  workspace: string;
  entryKey: string;
  text: string;
  /** Files to send with the text: png, jpeg, gif and webp as images, anything else as files. */
  attach?: string[];
  userId: string;
  url?: string;
  apiKey?: string;
  env: Record<string, string | undefined>;
  /** Default: standard output. */
  out?: SendOutput;
}

/** Sends one message to a web_api entry and prints the reply (live on a terminal); returns the exit code. */
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
  const attachments = readAttachments(opts.attach ?? []);
  if (typeof attachments === 'string') {
    console.error(attachments);
    return 2;
  }
  let response: Response;
  try {
    response = await fetch(`${base}/api/v1/chat/${encodeURIComponent(opts.entryKey)}?wait=true`, {
      method: 'POST',
      // The answer as a stream: a terminal shows it while the agent writes it.
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ userId: opts.userId, ...(opts.text ? { content: opts.text } : {}), ...attachments }),
    });
  } catch (err) {
    console.error(unreachable(base, err));
    return 2;
  }
  if (response.status === 200 && response.headers.get('content-type')?.startsWith('text/event-stream') && response.body) {
    return printStreamedAnswer(response.body, opts.out ?? process.stdout);
  }
  const body = (await response.json().catch(() => ({}))) as { reply?: { text: string }; messageId?: string; error?: { message: string } };
  if (response.status === 200 && body.reply) {
    (opts.out ?? process.stdout).write(`${body.reply.text}\n`);
    return 0;
  }
  if (response.status === 202) return pending(body.messageId);
  // Attachments travel in the JSON body: a 413 is most likely theirs.
  const hint = response.status === 413 && opts.attach?.length ? " (raise the entry's body_limit_bytes, up to 1 MiB)" : '';
  console.error(`${refusal({ status: response.status, body })}${hint}`);
  return 1;
}

/** The `images` and `files` fields for the attached paths, or what is wrong with one of them. */
function readAttachments(paths: string[]): { images?: { data_base64: string }[]; files?: { name: string; data_base64: string }[] } | string {
  const images: { data_base64: string }[] = [];
  const files: { name: string; data_base64: string }[] = [];
  for (const path of paths) {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (err) {
      return `--attach ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    }
    const type = sniffImageType(data);
    if (type && AGENT_IMAGE_TYPES.has(type)) images.push({ data_base64: data.toString('base64') });
    else files.push({ name: basename(path), data_base64: data.toString('base64') });
  }
  return { ...(images.length > 0 ? { images } : {}), ...(files.length > 0 ? { files } : {}) };
}

function pending(messageId: string | undefined): number {
  console.error(`accepted as message ${messageId}; no reply within the wait time (see the events stream)`);
  return 3;
}

/**
 * Reads the answer's event stream. A terminal sees the text as it is written (each `partial` carries
 * the whole text so far; what extends the shown text is added, a restart begins a new line); a pipe
 * gets the answer alone, once it is complete.
 */
async function printStreamedAnswer(body: ReadableStream<Uint8Array>, out: SendOutput): Promise<number> {
  let shown = '';
  let messageId: string | undefined;
  const chunks: string[] = [];
  let ended: 'reply' | 'pending' | undefined;
  const show = (text: string) => {
    if (!out.isTTY) return;
    if (text.startsWith(shown)) out.write(text.slice(shown.length));
    else out.write(`\n${text}`);
    shown = text;
  };
  for await (const { event, data: json } of serverSentEvents(body)) {
    const data = JSON.parse(json) as { messageId?: string; text?: string };
    if (event === 'accepted') messageId = data.messageId;
    else if (event === 'partial' && chunks.length === 0) show(String(data.text));
    else if (event === 'reply') {
      chunks.push(String(data.text));
      ended = 'reply';
    } else if (event === 'pending') ended = 'pending';
  }
  if (ended !== 'reply') {
    if (shown !== '') out.write('\n');
    if (ended === 'pending') return pending(messageId);
    console.error('the gateway ended the answer early; see the events stream');
    return 1;
  }
  const answer = chunks.join('');
  if (out.isTTY) show(answer);
  else out.write(answer);
  out.write('\n');
  return 0;
}

/** Where `send` prints the answer; `isTTY` decides whether it is shown while written. */
export interface SendOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}
