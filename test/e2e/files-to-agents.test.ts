import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeFeishu } from '../fakes/feishu/index.js';
import { FakeIlink, ilinkItem } from '../fakes/ilink/index.js';
import { FakeWecom } from '../fakes/wecom/index.js';
import { filesOf as modelFilesOf, startFakeLlm } from '../fakes/llm/server.js';
import { MAX_FILE_TEXT_CHARS } from '../../src/agents/openai/openai-agent.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { feishuEntryConfig } from '../helpers/feishu.js';
import { startTestGateway } from '../helpers/gateway.js';
import { AGENT_MEDIA_BUDGET_BYTES, MAX_FILE_BYTES, MAX_FILES } from '../../src/core/media.js';
import { mediaDownloads } from '../helpers/media.js';
import { webApiEntry } from '../helpers/workspace.js';

/** Files, voice messages and videos users send reach agents with `files: true` (http: all of them; openai: text and PDFs), downloaded from the platform. */

const opened = closeAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PostedFile {
  kind: string;
  name?: string;
  mime_type: string;
  data_base64: string;
}

/**
 * An agent service that records what it is sent and answers (after `delayMs`) with the names and sizes
 * of the files it got; `peak` is the most requests it held at once.
 */
async function startService(delayMs = 0) {
  const posts: { message: { content: string; files?: PostedFile[] } }[] = [];
  const load = { now: 0, peak: 0 };
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    load.peak = Math.max(load.peak, ++load.now);
    req.on('data', (d: Buffer) => parts.push(d)).on('end', async () => {
      await sleep(delayMs);
      load.now--;
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as (typeof posts)[number];
      posts.push(body);
      const files = body.message.files ?? [];
      const reply = files.length > 0
        ? files.map((f) => `${f.kind} ${f.name ?? '?'} ${f.mime_type} ${Buffer.from(f.data_base64, 'base64').length} B`).join('; ')
        : `no files: ${body.message.content}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`, posts, load };
}

const filesOf = (post: { message: { files?: PostedFile[] } } | undefined) =>
  (post?.message.files ?? []).map((f) => ({ ...f, data: Buffer.from(f.data_base64, 'base64'), data_base64: undefined }));

describe('files to agents', () => {
  it('feishu: passes the file a user sends, with its name and the type its name implies; without files: true nothing is downloaded', async () => {
    const fake = opened(await FakeFeishu.start({ ackTimeoutMs: 3_000 }));
    const service = await startService();
    const config = feishuEntryConfig(fake);
    const reader = { profile: { provider: 'http', url: service.url, files: true }, entries: [{ type: 'channel', channel: 'feishu', config }] };
    const t = opened(await startTestGateway({ agents: { reader } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.feishu')?.state === 'running');

    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(3000, 0x20)]);
    const event = fake.fileEvent('Q3 report.pdf', { data: pdf });
    const chat = event.event.message.chat_id;
    await fake.pushEvent(event).done;
    await t.until(() => fake.messagesIn(chat).length === 1);
    await sleep(200); // a second answer would show up here

    expect(service.posts).toHaveLength(1);
    expect(filesOf(service.posts[0])).toEqual([{ kind: 'file', name: 'Q3 report.pdf', mime_type: 'application/pdf', data: pdf, data_base64: undefined }]);
    const text = (fake.messagesIn(chat)[0]?.content as { text?: string }).text;
    expect(text).toBe(`file Q3 report.pdf application/pdf ${pdf.length} B`);
    expect(fake.resourceCalls).toMatchObject([{ messageId: event.event.message.message_id, type: 'file', status: 200 }]);
    expect(await mediaDownloads(t, 'feishu', 'ok')).toBe(1);

    // The same agent without files: the text alone, and the platform is not asked for the file.
    expect((await t.admin('PUT', '/agents/reader', { provider: 'http', url: service.url })).status).toBe(200);
    const second = fake.fileEvent('notes.txt');
    await fake.pushEvent(second).done;
    await t.until(() => fake.messagesIn(chat).length === 2);
    expect(service.posts[1]?.message.files).toBeUndefined();
    expect((fake.messagesIn(chat)[1]?.content as { text?: string }).text).toBe('no files: [file: notes.txt]');
    expect(fake.resourceCalls).toHaveLength(1);
  });

  it('wechat_ilink: passes a file downloaded from the CDN and decrypted; one that is gone is left out and the answer still goes, once', async () => {
    const fake = opened(await FakeIlink.start({ longPollMs: 300 }));
    const service = await startService();
    const entry = { type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url, bot_token: fake.botToken, cdn_base_url: fake.cdnUrl, show_typing: false } };
    const t = opened(await startTestGateway({ agents: { reader: { profile: { provider: 'http', url: service.url, files: true }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.wechat_ilink')?.state === 'running');

    const csv = Buffer.from('month,revenue\n2026-10,120\n2026-11,135\n');
    fake.userSends('alice', [ilinkItem.file('revenue.csv', { data: csv, media: fake.hostMedia(csv, { keyForm: 'hex' }).media })]);
    const [reply] = await fake.waitForSent(1, { user: 'alice' });
    expect(filesOf(service.posts[0])).toEqual([{ kind: 'file', name: 'revenue.csv', mime_type: 'text/csv', data: csv, data_base64: undefined }]);
    expect(reply!.text).toBe(`file revenue.csv text/csv ${csv.length} B`);

    const gone = fake.hostMedia(Buffer.from('old'), { keyForm: 'hex', expired: true });
    fake.userSends('bob', [ilinkItem.file('old.txt', { data: Buffer.from('old'), media: gone.media })]);
    const [answer] = await fake.waitForSent(1, { user: 'bob' });
    expect(answer!.text).toBe('no files: [file: old.txt]');
    await sleep(300);
    expect(fake.sent('bob')).toHaveLength(1);
    const [summary] = await t.gateway.store.listMessages({ limit: 1 });
    const detail = await t.gateway.store.getMessage(summary!.id);
    expect(detail!.timeline.find((e) => e.stage === 'media_error')?.detail).toMatch(/^COCO_ERR_MEDIA: file 1: .*404/);
    expect(await mediaDownloads(t, 'wechat_ilink', 'failed')).toBe(1);
  });

  it('web_api: takes files inline for the agent, describes them for the text, and refuses a bad one with 400 naming the field', async () => {
    const service = await startService();
    const entry = webApiEntry({ body_limit_bytes: 1_048_576 });
    const t = opened(await startTestGateway({ agents: { reader: { profile: { provider: 'http', url: service.url, files: true }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.web_api')?.state === 'running');
    const b64 = (data: Buffer) => data.toString('base64');

    const md = Buffer.from('# Plan\n- ship it\n');
    const bin = Buffer.from([0, 1, 2, 3, 254, 255]);
    const res = await t.chat('reader.web_api', {
      userId: 'ann', content: 'see attached',
      files: [{ name: 'plan.md', data_base64: b64(md) }, { name: 'blob', mime_type: 'Application/X-Thing', data_base64: b64(bin) }],
    }, { wait: true });
    expect(res.status).toBe(200);
    expect(filesOf(service.posts[0])).toEqual([
      { kind: 'file', name: 'plan.md', mime_type: 'text/markdown', data: md, data_base64: undefined },
      { kind: 'file', name: 'blob', mime_type: 'application/x-thing', data: bin, data_base64: undefined },
    ]);
    expect(service.posts[0]!.message.content).toBe('see attached [file: plan.md] [file: blob]');
    expect(res.json.reply.text).toBe('file plan.md text/markdown 17 B; file blob application/x-thing 6 B');
    const detail = await t.gateway.store.getMessage(res.json.messageId);
    expect(detail?.message).toMatchObject({ content: 'see attached [file: plan.md] [file: blob]', msgType: 'text' });
    // A file alone is a message of its own.
    const alone = await t.chat('reader.web_api', { userId: 'ann', files: [{ name: 'a.txt', data_base64: b64(Buffer.from('a')) }] }, { wait: true });
    expect((await t.gateway.store.getMessage(alone.json.messageId))?.message).toMatchObject({ content: '[file: a.txt]', msgType: 'file' });

    const cases: [unknown, string][] = [
      [{ userId: 'dan', files: [{ name: 'x.txt', data_base64: 'not base64!' }] }, 'files.0.data_base64'],
      [{ userId: 'dan', files: [{ data_base64: b64(md) }] }, 'files.0.name'],
      [{ userId: 'dan', files: [{ name: 'x', mime_type: 'pdf', data_base64: b64(md) }] }, 'files.0.mime_type'],
      [{ userId: 'dan', files: Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data_base64: b64(md) })) }, 'files'],
      [{ userId: 'dan', files: [] }, 'files'],
    ];
    for (const [body, field] of cases) {
      const bad = await t.chat('reader.web_api', body);
      expect(bad.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(bad.json.error).toMatchObject({ code: 'COCO_ERR_REQUEST_INVALID', field });
    }
    expect(await t.gateway.store.listMessages({ limit: 10 })).toHaveLength(2);
  });

  it('holds back agents whose files would pass the process\'s media budget, while the others run: every message answered', async () => {
    const service = await startService(300);
    const entry = webApiEntry({ body_limit_bytes: 1_048_576 });
    const t = opened(await startTestGateway({ agents: { reader: { profile: { provider: 'http', url: service.url, files: true }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.web_api')?.state === 'running');
    // Four files count as four times MAX_FILE_BYTES until the agent answers: three such messages fit the budget at once.
    const perMessage = MAX_FILES * MAX_FILE_BYTES;
    expect(Math.floor(AGENT_MEDIA_BUDGET_BYTES / perMessage)).toBe(3);
    const files = Array.from({ length: MAX_FILES }, (_, i) => ({ name: `f${i}.txt`, data_base64: Buffer.from(`file ${i}`).toString('base64') }));
    const withFiles = Array.from({ length: 6 }, (_, i) => t.chat('reader.web_api', { userId: `u${i}`, content: 'files', files }, { wait: true }));
    await sleep(100);
    // A message without files is not held behind them.
    const plain = await t.chat('reader.web_api', { userId: 'plain', content: 'just text' }, { wait: true });
    expect(plain.json.reply.text).toBe('no files: just text');
    const answers = await Promise.all(withFiles);
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(answers.every((r) => r.json.reply.text.startsWith('file f0.txt text/plain'))).toBe(true);
    // Three with files and the plain one beside them: never more than three with files, and the plain one not behind them.
    expect(service.load.peak).toBe(4);
    expect(service.posts.filter((p) => p.message.files).length).toBe(6);
  });

  it('openai: text files reach the model as text, a PDF as a file part, other files only as their description', async () => {
    const llm = opened(await startFakeLlm());
    const entry = webApiEntry({ body_limit_bytes: 1_048_576 });
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', files: true };
    const t = opened(await startTestGateway({ agents: { reader: { profile, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.web_api')?.state === 'running');
    const b64 = (data: Buffer) => data.toString('base64');
    const csv = Buffer.from('city,温度\n北京,3\n');
    const pdf = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj');
    const zip = Buffer.from([0x50, 0x4b, 3, 4, 0, 0]);
    const long = Buffer.from('x'.repeat(MAX_FILE_TEXT_CHARS + 5));
    const res = await t.chat('reader.web_api', {
      userId: 'ann', content: 'summarise',
      files: [{ name: 'temps.csv', data_base64: b64(csv) }, { name: 'paper.pdf', data_base64: b64(pdf) }, { name: 'a.zip', data_base64: b64(zip) },
        { name: 'big.txt', data_base64: b64(long) }],
    }, { wait: true });
    expect(res.status).toBe(200);
    const sent = modelFilesOf(llm.requests[0]!);
    expect(sent.files).toEqual([{ filename: 'paper.pdf', data: pdf }]);
    expect(sent.texts[0]).toBe('summarise [file: temps.csv] [file: paper.pdf] [file: a.zip] [file: big.txt]');
    expect(sent.texts[1]).toBe(`[file: temps.csv]\n${csv.toString('utf8')}`);
    expect(sent.texts[2]).toBe(`[file: big.txt]\n${'x'.repeat(MAX_FILE_TEXT_CHARS)}\n[… cut: the first ${MAX_FILE_TEXT_CHARS} of ${MAX_FILE_TEXT_CHARS + 5} characters]`);
    expect(sent.texts).toHaveLength(3); // the zip: described only
    expect(res.json.reply.text).toMatch(/\(\+1 file\)$/);

    // Called text but not UTF-8 (GBK, as older Windows tools save it): described only, never garbled.
    const gbk = Buffer.from([0xc4, 0xe3, 0xba, 0xc3]); // 你好
    const second = await t.chat('reader.web_api', { userId: 'bob', files: [{ name: 'hello.txt', data_base64: b64(gbk) }] }, { wait: true });
    expect(second.status).toBe(200);
    expect(llm.requests[1]!.body.messages!.at(-1)).toEqual({ role: 'user', content: '[file: hello.txt]' });
  });

  it('wecom_bot: keeps a file with its message when the agent takes files, so it still reaches the agent after WeCom stopped serving it', async () => {
    const fake = opened(await FakeWecom.start());
    const service = await startService(1_000); // the first message holds the conversation while the file waits behind it
    const entry = { type: 'channel', channel: 'wecom_bot', config: { bot_id: fake.botId, secret: fake.botSecret, ws_url: fake.wsUrl, show_typing: false } };
    const t = opened(await startTestGateway({ agents: { reader: { profile: { provider: 'http', url: service.url, files: true }, entries: [entry] } } }));
    await t.until(() => t.gateway.keeper.statusOf('reader.wecom_bot')?.state === 'running');
    await fake.waitForBotConnection();

    const first = fake.sendBotText('first, slowly', { from: 'lisi' });
    const doc = Buffer.from('%PDF-1.5\nminutes of the meeting');
    const second = fake.sendBotMessage({ type: 'file', data: doc, fileName: 'minutes.pdf' }, { from: 'lisi' });
    const id = await t.until(async () => {
      const [m] = await t.gateway.store.listMessages({ userId: 'lisi', limit: 1 });
      const media = m && (await t.gateway.store.getMessage(m.id))?.message.media;
      return media?.[0]?.ref.startsWith('data:') && m!.status === 'queued' ? m!.id : undefined;
    });
    // The callback names no file; the download does (Content-Disposition), and the name is kept with the bytes.
    expect((await t.gateway.store.getMessage(id))!.message.media![0]).toEqual({
      kind: 'file', ref: `data:application/octet-stream;base64,${doc.toString('base64')}`, mimeType: 'application/octet-stream', name: 'minutes.pdf',
    });
    fake.expireBotMediaUrls(); // the 5 minutes pass while it waits
    await fake.waitForBotReply(first);
    await fake.waitForBotReply(second);
    expect(filesOf(service.posts[1])).toEqual([{ kind: 'file', name: 'minutes.pdf', mime_type: 'application/pdf', data: doc, data_base64: undefined }]);
  });
});
