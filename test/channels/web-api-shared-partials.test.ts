import { describe, expect, it } from 'vitest';
import { EXPIRES_MS, REFRESH_MS, SharedPartials } from '../../src/channels/web-api/shared-partials.js';
import { ManualClock } from '../../src/core/clock.js';
import { bus } from '../helpers/signals.js';

function pair() {
  const b = bus();
  const clock = new ManualClock();
  const watched = { a: [] as string[], b: [] as string[] };
  const shown: { conversationId: string; messageId: string; text: string }[] = [];
  const a = new SharedPartials(b.signals('a'), clock, () => watched.a, () => {});
  const other = new SharedPartials(b.signals('b'), clock, () => watched.b, (conversationId, p) => shown.push({ conversationId, ...p }));
  a.start();
  other.start();
  return { a, b: other, bus: b, clock, watched, shown };
}

describe('web_api partials across processes', () => {
  it('counts a conversation as watched elsewhere from its first stream until the last closes, per process', () => {
    const { a, b, watched } = pair();
    expect(a.watchedElsewhere('u1')).toBe(false);
    watched.b = ['u1'];
    b.opened('u1');
    expect(a.watchedElsewhere('u1')).toBe(true);
    expect(a.watchedElsewhere('u2')).toBe(false);
    watched.b = [];
    b.closed('u1');
    expect(a.watchedElsewhere('u1')).toBe(false);
  });

  it('keeps a watch alive by repeating it, and lets it lapse when the watching process goes silent', async () => {
    const { a, b, clock, watched, bus: b2 } = pair();
    watched.b = ['u1'];
    b.opened('u1');
    // Repeated every REFRESH_MS: still watched long after EXPIRES_MS.
    await clock.advance(EXPIRES_MS * 3);
    expect(a.watchedElsewhere('u1')).toBe(true);
    expect(REFRESH_MS).toBeLessThan(EXPIRES_MS / 2);
    // A process that said it watches u2, then died without a word: never repeated, never taken back.
    const dead = new SharedPartials(b2.signals('dead'), clock, () => ['u2'], () => {});
    dead.opened('u2');
    expect(a.watchedElsewhere('u2')).toBe(true);
    await clock.advance(EXPIRES_MS);
    expect(a.watchedElsewhere('u2')).toBe(false);
    expect(a.watchedElsewhere('u1')).toBe(true);
  });

  it('sends only what is new, and the other side rebuilds the whole text, long and non-ASCII included', () => {
    const { a, shown, bus: b } = pair();
    const long = `${'句子，'.repeat(900)}😀${'x'.repeat(1_500)}`;
    const steps = ['Hel', 'Hello, wor', 'Hello, world. ', `Hello, world. ${long}`];
    for (const text of steps) a.publish('u1', 'm1', text);
    expect(shown.map((s) => s.text).at(-1)).toBe(steps.at(-1));
    for (const s of shown) expect(steps.at(-1)!.startsWith(s.text)).toBe(true);
    // Each signal carries a piece, not the text so far: about as many characters as the text in all.
    const carried = b.sent.filter((s) => s.topic === 'partial').reduce((n, s) => n + (JSON.parse(s.body) as { t: string }).t.length, 0);
    expect(carried).toBe(steps.at(-1)!.length);
    // No piece splits the emoji (a surrogate pair).
    for (const s of b.sent.filter((x) => x.topic === 'partial')) expect((JSON.parse(s.body) as { t: string }).t).not.toMatch(/^[\udc00-\udfff]|[\ud800-\udbff]$/);
  });

  it('skips the rest of an attempt after a lost piece, and shows the next attempt from its first words', () => {
    const { a, shown, bus: b } = pair();
    a.publish('u1', 'm1', 'one');
    b.drop(1);
    a.publish('u1', 'm1', 'one two');
    a.publish('u1', 'm1', 'one two three');
    expect(shown.map((s) => s.text)).toEqual(['one']);
    // A retry writes again from the start: it does not begin with what was sent, so it goes whole.
    a.publish('u1', 'm1', 'Another');
    expect(shown.map((s) => s.text)).toEqual(['one', 'Another']);
  });

  it('shows nothing of a reply after it was stored', () => {
    const { a, b, shown } = pair();
    a.publish('u1', 'm1', 'almost');
    b.done('m1');
    a.publish('u1', 'm1', 'almost done');
    expect(shown.map((s) => s.text)).toEqual(['almost']);
  });
});
