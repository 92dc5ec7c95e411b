import { describe, expect, it } from 'vitest';
import { serverSentEvents } from '../../src/core/server-sent-events.js';

async function read(pieces: string[]) {
  async function* body() {
    for (const p of pieces) yield new TextEncoder().encode(p);
  }
  const events = [];
  for await (const e of serverSentEvents(body())) events.push(e);
  return events;
}

describe('serverSentEvents', () => {
  it('reads named and unnamed events, joins data lines, skips comments, ids and events without data', async () => {
    expect(
      await read([': keepalive\n\nretry: 1000\n\n', 'id: 7\nevent: reply\ndata: {"a":1}\n\n', 'data: one\ndata:two\n\n', 'event: empty\n\n']),
    ).toEqual([
      { event: 'reply', data: '{"a":1}' },
      { event: 'message', data: 'one\ntwo' },
    ]);
  });

  it('puts events split across pieces back together, also at a CRLF split in two', async () => {
    expect(await read(['event: del', 'ta\r', '\ndata: {"text":"héllo"}\r', '\n\r', '\nevent: done\rdata: {}\r\r'])).toEqual([
      { event: 'delta', data: '{"text":"héllo"}' },
      { event: 'done', data: '{}' },
    ]);
    // A multi-byte character cut between two pieces.
    const bytes = new TextEncoder().encode('data: 茶\n\n');
    async function* body() {
      yield bytes.slice(0, 7);
      yield bytes.slice(7);
    }
    const events = [];
    for await (const e of serverSentEvents(body())) events.push(e);
    expect(events).toEqual([{ event: 'message', data: '茶' }]);
  });

  it('drops an event the body ends in the middle of', async () => {
    expect(await read(['data: complete\n\n', 'data: cut off'])).toEqual([{ event: 'message', data: 'complete' }]);
    expect(await read(['data: complete\r\r', 'data: cut off\r'])).toEqual([{ event: 'message', data: 'complete' }]);
  });
});
