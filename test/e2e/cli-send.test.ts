import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendCommand, type SendOutput } from '../../src/cli/commands/send.js';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const ANSWER = 'Oolong takes hotter water than green tea and can be steeped several times.';

afterEach(() => {
  vi.restoreAllMocks();
});
const opened = closeAfterEach();

async function setup(profile: Record<string, unknown>, entry: Record<string, unknown> = {}) {
  const t = opened(await startTestGateway({ agents: { bot: { profile, entries: [webApiEntry(entry)] } } }));
  await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
  const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { workspace: t.root, entryKey: 'bot.web_api', userId: 'cli', url, env: {}, t };
}

function output(isTTY: boolean): SendOutput & { writes: string[] } {
  const writes: string[] = [];
  return { isTTY, writes, write: (text: string) => writes.push(text) };
}

describe('cococat send', () => {
  it('prints the reply and exits 0, with the key read from the workspace', async () => {
    const opts = await setup({ provider: 'echo', prefix: 'echo: ' });
    const out = output(false);
    expect(await sendCommand({ ...opts, text: 'hi there', out })).toBe(0);
    expect(out.writes.join('')).toBe('echo: hi there\n');
  });

  it("shows a streaming agent's answer on a terminal while it is written, ending with the whole answer", async () => {
    const llm = opened(await startFakeLlm({ pieceDelayMs: 60, reply: () => ANSWER }));
    const opts = await setup({ provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' });
    const out = output(true);
    expect(await sendCommand({ ...opts, text: 'oolong?', out })).toBe(0);
    expect(llm.requests[0]!.body.stream).toBe(true);
    // Several pieces, each adding to what is shown; together the answer, once.
    expect(out.writes.length).toBeGreaterThanOrEqual(3);
    expect(out.writes.join('')).toBe(`${ANSWER}\n`);
  });

  it('prints only the complete answer into a pipe', async () => {
    const llm = opened(await startFakeLlm({ pieceDelayMs: 20, reply: () => ANSWER }));
    const opts = await setup({ provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' });
    const out = output(false);
    expect(await sendCommand({ ...opts, text: 'oolong?', out })).toBe(0);
    expect(out.writes).toEqual([ANSWER, '\n']);
  });

  it('exits 3 naming the message when the answer is not ready within the wait time, 1 on a refused request', async () => {
    const llm = opened(await startFakeLlm({ delayMs: 1_000 }));
    const opts = await setup({ provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' }, { wait_timeout_ms: 200 });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const out = output(false);
    expect(await sendCommand({ ...opts, text: 'slow', out })).toBe(3);
    expect(errors.mock.calls.at(-1)![0]).toMatch(/^accepted as message \d+; no reply within the wait time/);
    expect(out.writes).toEqual([]);

    expect(await sendCommand({ ...opts, text: 'x', apiKey: 'not-the-key-0123456789', out })).toBe(1);
    expect(errors.mock.calls.at(-1)![0]).toMatch(/^HTTP 401: missing or wrong API key/);
  });

  it('attaches images and files from disk (an image by its bytes, anything else as a file by its name), with or without text', async () => {
    const opts = await setup({ provider: 'echo', images: true }, { body_limit_bytes: 1_048_576 });
    const png = join(opts.workspace, 'dot.png');
    const notes = join(opts.workspace, 'notes.txt');
    writeFileSync(png, solidPng(2, 2));
    writeFileSync(notes, 'remember the milk\n');
    const out = output(false);
    expect(await sendCommand({ ...opts, text: 'look', attach: [png, notes], out })).toBe(0);
    // The echo agent sends the image back after the text; the file is described in the text.
    expect(out.writes.join('')).toBe('look [image] [file: notes.txt]\n');
    const [summary] = await opts.t.gateway.store.listMessages({ limit: 1 });
    const detail = await opts.t.gateway.store.getMessage(summary!.id);
    expect(detail?.message.media).toEqual([
      { kind: 'image', ref: expect.stringMatching(/^data:image\/png;base64,/), mimeType: 'image/png' },
      { kind: 'file', ref: `data:text/plain;base64,${Buffer.from('remember the milk\n').toString('base64')}`, mimeType: 'text/plain', name: 'notes.txt' },
    ]);
    expect(await sendCommand({ ...opts, text: '', attach: [notes], out: output(false) })).toBe(0);

    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await sendCommand({ ...opts, text: 'x', attach: [join(opts.workspace, 'missing.pdf')], out })).toBe(2);
    expect(errors.mock.calls.at(-1)![0]).toMatch(/^--attach .*missing\.pdf: cannot read it \(ENOENT\)/);
  });
});
