import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/commands/export.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway, timeFrom } from '../helpers/gateway.js';
import { solidPng } from '../helpers/images.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const T0 = Date.UTC(2026, 11, 7, 9);

/** A gateway whose clock the test sets, with three users' messages an hour apart, and an operator's reply. */
async function setup() {
  let now = T0;
  const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo', prefix: 'echo: ' }, entries: [webApiEntry()] } } }, { clock: timeFrom(() => now) }));
  await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
  const ids: string[] = [];
  for (const [i, userId] of ['ann', 'bob', 'ann'].entries()) {
    now = T0 + i * 3_600_000;
    const res = await t.chat('bot.web_api', { userId, content: `question ${i}`, ...(i === 1 ? { images: [{ data_base64: solidPng().toString('base64') }] } : {}) }, { wait: true });
    ids.push(res.json.messageId);
  }
  await t.admin('POST', `/messages/${ids[0]}/reply`, { text: 'A person adds: see the FAQ.' });
  return { t, ids, at: (ms: number) => (now = T0 + ms) };
}

const lines = (body: string) => body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

describe('exporting the message log', () => {
  it('streams JSON Lines, newest first, each message with what went out for it and by whom, media without bytes', async () => {
    const { t, ids } = await setup();
    const res = await t.app.inject({ method: 'GET', url: '/api/admin/messages/export', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(res.headers['content-disposition']).toBe('attachment; filename="cococat-messages.jsonl"');
    const all = lines(res.body);
    expect(all.map((m) => m.id)).toEqual([...ids].reverse());
    expect(all[2]).toMatchObject({
      entryKey: 'bot.web_api',
      channelType: 'web_api',
      target: { kind: 'agent', id: 'bot' },
      userId: 'ann',
      conversationId: 'ann',
      isGroup: false,
      msgType: 'text',
      content: 'question 0',
      status: 'done',
      createdAt: T0,
      replies: [
        { by: 'agent', text: 'echo: question 0', status: 'sent' },
        { by: 'operator', text: 'A person adds: see the FAQ.' },
      ],
    });
    expect(all[2]!.outcome).toMatch(/attempt/);
    // The image is named, not carried.
    expect(all[1]!.media).toEqual([{ kind: 'image', ref: expect.stringMatching(/^data:image\/png;base64,… \(\d+ bytes\)$/), mimeType: 'image/png' }]);
    expect(res.body).not.toContain(solidPng().toString('base64'));
  });

  it('filters by user and by time (ISO or epoch ms), and stops at the limit; a bad time is a 400 naming it', async () => {
    const { t, ids } = await setup();
    const get = async (query: string) => lines((await t.app.inject({ method: 'GET', url: `/api/admin/messages/export?${query}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body);
    expect((await get('userId=ann')).map((m) => m.id)).toEqual([ids[2], ids[0]]);
    expect((await get(`since=${new Date(T0 + 1_800_000).toISOString()}`)).map((m) => m.id)).toEqual([ids[2], ids[1]]);
    expect((await get(`since=${T0}&until=${T0 + 3_600_000}`)).map((m) => m.id)).toEqual([ids[0]]);
    expect((await get('limit=1')).map((m) => m.id)).toEqual([ids[2]]);
    expect(await get('status=dead')).toEqual([]);
    expect((await get('status=done')).map((m) => m.id)).toEqual([...ids].reverse());
    const bad = await t.admin('GET', '/messages/export?since=yesterday');
    expect([bad.status, bad.json.error.field, bad.json.error.message]).toEqual([400, 'since', 'since: must be an ISO 8601 time (2026-12-07T09:00:00Z) or epoch milliseconds']);
    const unauthorized = await t.app.inject({ method: 'GET', url: '/api/admin/messages/export' });
    expect(unauthorized.statusCode).toBe(401);
  });

  it('cococat export writes the lines to standard output and says how many', async () => {
    const { t, ids } = await setup();
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const out = new PassThrough();
    let written = '';
    out.on('data', (d: Buffer) => (written += d.toString()));
    const said: string[] = [];
    const opts = { workspace: t.root, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, out, print: (l: string) => said.push(l) };
    expect(await exportCommand({ ...opts, filter: { userId: 'bob' } })).toBe(0);
    expect(lines(written).map((m) => m.id)).toEqual([ids[1]]);
    expect(said).toEqual(['exported 1 message(s)']);
    written = '';
    expect(await exportCommand({ ...opts, filter: { text: 'QUESTION 2' } })).toBe(0);
    expect(lines(written).map((m) => m.content)).toEqual(['question 2']);
    expect(await exportCommand({ ...opts, filter: { limit: '0' } })).toBe(1);
    expect(said.at(-1)).toMatch(/^HTTP 400: limit: /);
    expect(await exportCommand({ ...opts, env: {}, filter: {} })).toBe(2);
  });
});
