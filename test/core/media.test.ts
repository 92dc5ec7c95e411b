import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { CocoError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import {
  dispositionFileName, fetchFiles, fetchImages, imageFileName, loadReplyImage, MAX_CONCURRENT_DOWNLOADS, MAX_FILE_BYTES, MAX_FILES, MAX_IMAGE_BYTES, MAX_IMAGES, MEDIA_TIMEOUT_MS, mediaType, readMediaBody, sniffImageType, type MediaFetcher,
} from '../../src/core/media.js';
import { ByteBudget } from '../../src/core/byte-budget.js';
import type { ChatMessage, MediaRef } from '../../src/core/message.js';
import { solidPng } from '../helpers/images.js';

const PNG = solidPng();
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]);
const GIF = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1');
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([4, 0, 0, 0]), Buffer.from('WEBPVP8 ')]);
const BMP = Buffer.from([0x42, 0x4d, 0x3a, 0, 0, 0]);

describe('image types from the bytes', () => {
  it('recognises png, jpeg, gif, webp and bmp by their signatures, and nothing else', () => {
    expect([PNG, JPEG, GIF, WEBP, BMP].map(sniffImageType)).toEqual(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp']);
    expect(sniffImageType(Buffer.from('{"errcode":40007}'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it('prefers the signature over the served type, drops parameters, and falls back for octet-stream', () => {
    expect(mediaType(PNG, 'application/octet-stream')).toBe('image/png');
    expect(mediaType(JPEG, 'image/png')).toBe('image/jpeg');
    expect(mediaType(Buffer.from('amr'), 'Audio/AMR; charset=binary')).toBe('audio/amr');
    expect(mediaType(Buffer.from('?'), 'application/octet-stream')).toBe('application/octet-stream');
    expect(mediaType(Buffer.from('?'), null, 'image/jpeg')).toBe('image/jpeg');
  });
});

describe('readMediaBody', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const size = Number(url.searchParams.get('size') ?? 0);
      const status = Number(url.searchParams.get('status') ?? 200);
      if (url.searchParams.has('chunked')) {
        // No content-length: the limit must hold while streaming.
        res.writeHead(status, { 'content-type': 'image/png' });
        for (let sent = 0; sent < size; sent += 1024) res.write(Buffer.alloc(Math.min(1024, size - sent), 7));
        return res.end();
      }
      res.writeHead(status, { 'content-type': 'image/png', 'content-length': String(size) }).end(Buffer.alloc(size, 7));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const read = (query: string, max: number) => fetch(`${base}/?${query}`).then((res) => readMediaBody(res, max, 'test download'));
  const failure = (query: string, max: number) => read(query, max).then(() => undefined, (err: unknown) => err as CocoError);

  it('reads a body up to the limit, with or without a content-length', async () => {
    expect((await read('size=5000', 5000)).length).toBe(5000);
    expect((await read('size=5000&chunked', 5000)).equals(Buffer.alloc(5000, 7))).toBe(true);
  });

  it('refuses a body over the limit, by its content-length or while streaming, as not retryable', async () => {
    for (const query of ['size=5001', 'size=50000&chunked']) {
      const err = await failure(query, 5000);
      expect(err).toBeInstanceOf(CocoError);
      expect(err).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
      expect(err!.message).toMatch(/^test download: larger than 5000 bytes/);
    }
  });

  it('turns an error status into COCO_ERR_MEDIA, retryable for 5xx and 429 only', async () => {
    expect(await failure('status=503', 10)).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true, statusCode: 503 });
    expect(await failure('status=429', 10)).toMatchObject({ retryable: true, statusCode: 429 });
    expect(await failure('status=404', 10)).toMatchObject({ retryable: false, statusCode: 404, message: expect.stringMatching(/^test download: HTTP 404/) });
  });
});

describe('fetchImages', () => {
  const message = (media: MediaRef[]): ChatMessage => ({
    channelType: 'relay', sceneId: 'a', userId: 'u', conversationId: 'u', content: '[image]', msgType: 'image',
    msgId: 'm1', timestamp: 0, isGroup: false, mentionsBot: true, media,
  });
  const images = (n: number): MediaRef[] => Array.from({ length: n }, (_, i) => ({ kind: 'image', ref: `img-${i}` }));
  const deps = (clock = systemClock) => ({ clock, log: silentLogger(), signal: new AbortController().signal });

  it('fetches only images, at most MAX_IMAGES, and says how many were left out', async () => {
    const asked: string[] = [];
    const fetcher: MediaFetcher = async (ref) => (asked.push(ref.ref), { data: PNG, mimeType: 'image/png' });
    const media: MediaRef[] = [{ kind: 'voice', ref: 'v' }, ...images(MAX_IMAGES + 2), { kind: 'file', ref: 'f' }];
    const result = await fetchImages(message(media), fetcher, deps());
    expect(asked).toEqual(images(MAX_IMAGES).map((m) => m.ref));
    expect(result.images).toHaveLength(MAX_IMAGES);
    expect(result.failures).toEqual([`2 image(s) over the limit of ${MAX_IMAGES} not passed`]);
  });

  it('reports a channel that cannot download, and asks nothing for a message without images', async () => {
    expect(await fetchImages(message(images(2)), undefined, deps())).toEqual({ images: [], failures: ['2 image(s) not passed: this channel cannot download media'] });
    expect(await fetchImages(message([{ kind: 'file', ref: 'f' }]), undefined, deps())).toEqual({ images: [], failures: [] });
  });

  it('tries a retryable failure once more, a permanent one never, and passes what arrived', async () => {
    const calls = new Map<string, number>();
    const fetcher: MediaFetcher = async (ref) => {
      const n = (calls.get(ref.ref) ?? 0) + 1;
      calls.set(ref.ref, n);
      if (ref.ref === 'img-0' && n === 1) throw new CocoError('COCO_ERR_MEDIA', 'flaky', { retryable: true });
      if (ref.ref === 'img-1') throw new CocoError('COCO_ERR_MEDIA', 'expired media id', { retryable: false });
      if (ref.ref === 'img-2') throw new CocoError('COCO_ERR_MEDIA', 'still down', { retryable: true });
      return { data: JPEG, mimeType: 'image/jpeg' };
    };
    const result = await fetchImages(message(images(3)), fetcher, deps());
    expect(Object.fromEntries(calls)).toEqual({ 'img-0': 2, 'img-1': 1, 'img-2': 2 });
    expect(result.images).toEqual([{ data: JPEG, mimeType: 'image/jpeg' }]);
    expect(result.failures).toEqual([expect.stringMatching(/^image 2: .*expired media id/), expect.stringMatching(/^image 3: .*still down/)]);
  });

  it("waits the platform's retry-after (at most 5 s) before the second try", async () => {
    const clock = new ManualClock(0);
    const at: Record<string, number[]> = { 'img-0': [], 'img-1': [] };
    const fetcher: MediaFetcher = async (ref) => {
      at[ref.ref]!.push(clock.now());
      if (at[ref.ref]!.length === 1) {
        throw new CocoError('COCO_ERR_MEDIA', 'rate limited', { retryable: true, retryAfterMs: ref.ref === 'img-0' ? 2_000 : 60_000 });
      }
      return { data: PNG, mimeType: 'image/png' };
    };
    const pending = fetchImages(message(images(2)), fetcher, deps(clock));
    await clock.advance(0); // the first tries fail and their waits begin
    await clock.advance(10_000);
    const result = await pending;
    expect(at).toEqual({ 'img-0': [0, 2_000], 'img-1': [0, 5_000] });
    expect(result.images).toHaveLength(2);
  });

  it('runs at most MAX_CONCURRENT_DOWNLOADS downloads at once in the process, and all of them in the end', async () => {
    let running = 0;
    let most = 0;
    const fetcher: MediaFetcher = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return { data: PNG, mimeType: 'image/png' };
    };
    const results = await Promise.all([1, 2, 3].map(() => fetchImages(message(images(4)), fetcher, deps())));
    expect(most).toBe(MAX_CONCURRENT_DOWNLOADS);
    expect(results.map((r) => r.images.length)).toEqual([4, 4, 4]);
  });

  it('refuses a type models do not take (bmp, or an error page) with the type and size', async () => {
    const fetcher: MediaFetcher = async (ref) => (ref.ref === 'img-0' ? { data: BMP, mimeType: 'image/bmp' } : { data: Buffer.from('<html>'), mimeType: 'text/html' });
    const result = await fetchImages(message(images(2)), fetcher, deps());
    expect(result.images).toEqual([]);
    expect(result.failures).toEqual([
      'image 1: image/bmp (6 bytes) is not a type models take (png, jpeg, gif, webp)',
      'image 2: text/html (6 bytes) is not a type models take (png, jpeg, gif, webp)',
    ]);
  });

  it('gives a download MEDIA_TIMEOUT_MS on the injected clock, then one more try', async () => {
    const clock = new ManualClock(0);
    let calls = 0;
    const fetcher: MediaFetcher = (_ref, _m, { signal }) => {
      calls++;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    };
    const pending = fetchImages(message(images(1)), fetcher, deps(clock));
    await clock.advance(MEDIA_TIMEOUT_MS - 1);
    expect(calls).toBe(1);
    await clock.advance(1); // timed out: the second try follows half a second later
    await clock.advance(499);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBe(2);
    await clock.advance(MEDIA_TIMEOUT_MS);
    const result = await pending;
    expect(result.images).toEqual([]);
    expect(result.failures).toEqual([`image 1: no answer within ${MEDIA_TIMEOUT_MS} ms`]);
  });
});

describe('fetchFiles', () => {
  const message = (media: MediaRef[]): ChatMessage => ({
    channelType: 'relay', sceneId: 'a', userId: 'u', conversationId: 'u', content: '[file]', msgType: 'file',
    msgId: 'm1', timestamp: 0, isGroup: false, mentionsBot: true, media,
  });
  const deps = () => ({ clock: systemClock, log: silentLogger(), signal: new AbortController().signal });
  const PDF = Buffer.from('%PDF-1.7\n');

  it('fetches files, voice messages and videos (never images) with their kind and name, at most MAX_FILES, within MAX_FILE_BYTES', async () => {
    const asked: { ref: string; maxBytes: number }[] = [];
    const fetcher: MediaFetcher = async (ref, _m, opts) => {
      asked.push({ ref: ref.ref, maxBytes: opts.maxBytes });
      return ref.kind === 'voice' ? { data: Buffer.from('#!AMR\n'), mimeType: 'audio/amr' } : { data: PDF, mimeType: 'application/octet-stream' };
    };
    const media: MediaRef[] = [
      { kind: 'image', ref: 'img' },
      { kind: 'file', ref: 'f1', name: 'report.pdf', mimeType: 'application/pdf' },
      { kind: 'voice', ref: 'v1' },
      { kind: 'video', ref: 'mv1', name: 'clip.mp4' },
      { kind: 'file', ref: 'f2' },
      ...Array.from({ length: 2 }, (_, i): MediaRef => ({ kind: 'file', ref: `extra-${i}` })),
    ];
    const result = await fetchFiles(message(media), fetcher, deps());
    expect(asked).toEqual(['f1', 'v1', 'mv1', 'f2'].map((ref) => ({ ref, maxBytes: MAX_FILE_BYTES })));
    expect(MAX_FILES).toBe(4);
    expect(result.files).toEqual([
      // octet-stream from the download: the type the platform gave with the message, else the one the name implies.
      { kind: 'file', name: 'report.pdf', data: PDF, mimeType: 'application/pdf' },
      { kind: 'voice', data: Buffer.from('#!AMR\n'), mimeType: 'audio/amr' },
      { kind: 'video', name: 'clip.mp4', data: PDF, mimeType: 'video/mp4' },
      { kind: 'file', data: PDF, mimeType: 'application/octet-stream' },
    ]);
    expect(result.failures).toEqual([`2 file(s) over the limit of ${MAX_FILES} not passed`]);
  });

  it('reports what could not be fetched by its place, and a channel that cannot download', async () => {
    const fetcher: MediaFetcher = async (ref) => {
      if (ref.ref === 'gone') throw new CocoError('COCO_ERR_MEDIA', 'HTTP 404', { retryable: false });
      return { data: PDF, mimeType: 'application/pdf' };
    };
    const result = await fetchFiles(message([{ kind: 'file', ref: 'ok' }, { kind: 'file', ref: 'gone' }]), fetcher, deps());
    expect(result.files).toHaveLength(1);
    expect(result.failures).toEqual([expect.stringMatching(/^file 2: .*HTTP 404/)]);
    expect(await fetchFiles(message([{ kind: 'voice', ref: 'v' }]), undefined, deps())).toEqual({ files: [], failures: ['1 file(s) not passed: this channel cannot download media'] });
    expect(await fetchFiles(message([{ kind: 'image', ref: 'i' }]), undefined, deps())).toEqual({ files: [], failures: [] });
  });
});

describe('loadReplyImage', () => {
  let server: Server;
  let base: string;
  let hangs = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/chart.png') return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(PNG);
      if (path === '/page') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      if (path === '/busy') return void res.writeHead(503).end('try later');
      if (path === '/hang') return void hangs++;
      res.writeHead(404).end('no such file');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  const deps = (clock = systemClock) => ({ clock, signal: new AbortController().signal });
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as CocoError);

  it('decodes an image given as data, typed by its bytes', async () => {
    expect(await loadReplyImage({ data: JPEG.toString('base64'), mimeType: 'image/png' }, deps())).toEqual({ data: JPEG, mimeType: 'image/jpeg' });
    const big = Buffer.alloc(MAX_IMAGE_BYTES + 1).toString('base64');
    expect(await failure(loadReplyImage({ data: big, mimeType: 'image/png' }, deps()))).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
  });

  it('downloads an image given by URL, typed by its bytes over what the server says', async () => {
    expect(await loadReplyImage({ url: `${base}/chart.png` }, deps())).toEqual({ data: PNG, mimeType: 'image/png' });
  });

  it('refuses what is not an image and a missing file for good; a 5xx or a refused connection may pass', async () => {
    const page = await failure(loadReplyImage({ url: `${base}/page` }, deps()));
    expect(page).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false, message: 'reply image: text/html (6 bytes) is not an image' });
    expect(await failure(loadReplyImage({ url: `${base}/missing.png` }, deps()))).toMatchObject({ retryable: false, statusCode: 404 });
    expect(await failure(loadReplyImage({ url: `${base}/busy` }, deps()))).toMatchObject({ retryable: true, statusCode: 503 });
    // A port nobody listens on (fetch refuses to even try "bad ports" such as 1).
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await failure(loadReplyImage({ url: `http://127.0.0.1:${port}/a.png?token=secret` }, deps()));
    expect(refused).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true });
    expect(refused?.message).toMatch(/ECONNREFUSED/);
    expect(refused?.message).not.toContain('secret');
    // A host that does not exist (.invalid never resolves) is not waited for.
    const nowhere = await failure(loadReplyImage({ url: 'https://made-up-host.invalid/chart.png' }, deps()));
    expect(nowhere).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: false });
    expect(nowhere?.message).toMatch(/ENOTFOUND/);
  });

  it('gives a download MEDIA_TIMEOUT_MS on the injected clock, then fails retryable', async () => {
    const clock = new ManualClock(0);
    const pending = failure(loadReplyImage({ url: `${base}/hang` }, deps(clock)));
    await new Promise((r) => setTimeout(r, 50));
    expect(hangs).toBe(1);
    await clock.advance(MEDIA_TIMEOUT_MS);
    expect(await pending).toMatchObject({ code: 'COCO_ERR_MEDIA', retryable: true, message: `reply image: no answer within ${MEDIA_TIMEOUT_MS} ms` });
  });

  it('names an upload file by its type', () => {
    expect([imageFileName('image/jpeg'), imageFileName('image/png'), imageFileName('text/plain')]).toEqual(['image.jpg', 'image.png', 'image.bin']);
  });
});

describe('ByteBudget (what agents may hold of downloaded media)', () => {
  const never = new AbortController().signal;
  const settled = async <T>(p: Promise<T>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);

  it('grants in arrival order: a large request waits for room and is not passed by smaller ones', async () => {
    const budget = new ByteBudget(100);
    const a = await budget.reserve(60, never);
    const big = budget.reserve(80, never);
    const small = budget.reserve(10, never); // would fit now, but the large one came first
    expect([await settled(big), await settled(small)]).toEqual([false, false]);
    a();
    expect(await settled(big)).toBe(true);
    expect(budget.inUse).toBe(90);
    expect(await settled(small)).toBe(true);
    a(); // given back once only
    expect(budget.inUse).toBe(90);
    (await big)();
    (await small)();
    expect(budget.inUse).toBe(0);
  });

  it('caps a request at the whole budget, and takes nothing for one aborted before or while it waits', async () => {
    const budget = new ByteBudget(100);
    const all = await budget.reserve(500, never);
    expect(budget.inUse).toBe(100);
    const stop = new AbortController();
    const waiting = budget.reserve(10, stop.signal);
    const next = budget.reserve(20, never);
    stop.abort();
    const none = await waiting;
    none();
    expect(budget.inUse).toBe(100);
    all();
    expect(await settled(next)).toBe(true);
    expect(budget.inUse).toBe(20);
    (await budget.reserve(30, stop.signal))(); // already aborted: nothing taken, nothing given back
    expect(budget.inUse).toBe(20);
  });
});

describe('dispositionFileName', () => {
  it("reads the file name a download gives, the UTF-8 form first, and nothing from a malformed or nameless header", () => {
    expect(dispositionFileName(`attachment; filename*=UTF-8''${encodeURIComponent('会议纪要 v2.pdf')}`)).toBe('会议纪要 v2.pdf');
    expect(dispositionFileName('attachment; filename="plain name.txt"')).toBe('plain name.txt');
    expect(dispositionFileName(`attachment; filename="fallback.pdf"; filename*=UTF-8''${encodeURIComponent('真名.pdf')}`)).toBe('真名.pdf');
    expect(dispositionFileName('attachment')).toBeUndefined();
    expect(dispositionFileName('attachment; filename=')).toBeUndefined();
    expect(dispositionFileName(null)).toBeUndefined();
  });
});
