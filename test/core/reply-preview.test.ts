import { describe, expect, it } from 'vitest';
import type { ReplyPreview } from '../../src/core/channel.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { pacedPreview } from '../../src/core/reply-preview.js';

function recording(intervalMs: number, clock: ManualClock) {
  const shown: { at: number; text: string }[] = [];
  let stops = 0;
  const preview: ReplyPreview = {
    intervalMs,
    update: (text) => shown.push({ at: clock.now(), text }),
    stop: () => void stops++,
  };
  return { preview, shown, stops: () => stops };
}

describe('pacedPreview', () => {
  it('shows the first text at once, then the newest text at most once per interval', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const r = recording(500, clock);
    const paced = pacedPreview(r.preview, clock, silentLogger());
    paced.update('Hel');
    paced.update('Hello');
    paced.update('Hello the');
    await clock.advance(200);
    paced.update('Hello there');
    expect(r.shown).toEqual([{ at: t0, text: 'Hel' }]);
    await clock.advance(300);
    expect(r.shown.map((s) => [s.at - t0, s.text])).toEqual([
      [0, 'Hel'],
      [500, 'Hello there'],
    ]);
    // Nothing new: no timer, no update.
    await clock.advance(2_000);
    expect(r.shown).toHaveLength(2);
    // After a quiet spell the next text goes at once again.
    paced.update('Hello there, friend');
    expect(r.shown.at(-1)).toEqual({ at: t0 + 2_500, text: 'Hello there, friend' });
  });

  it('drops held text on stop, stops the preview once, and ignores later updates', async () => {
    const clock = new ManualClock();
    const r = recording(500, clock);
    const paced = pacedPreview(r.preview, clock, silentLogger());
    paced.update('one');
    paced.update('one two');
    paced.stop();
    paced.stop();
    await clock.advance(1_000);
    paced.update('one two three');
    expect(r.shown.map((s) => s.text)).toEqual(['one']);
    expect(r.stops()).toBe(1);
  });

  it('passes a shorter text (a new attempt starting over) and skips empty and repeated text', async () => {
    const clock = new ManualClock();
    const r = recording(100, clock);
    const paced = pacedPreview(r.preview, clock, silentLogger());
    paced.update('');
    paced.update('first attempt got far');
    await clock.advance(100);
    paced.update('first attempt got far');
    await clock.advance(100);
    paced.update('Second');
    expect(r.shown.map((s) => s.text)).toEqual(['first attempt got far', 'Second']);
  });

  it('stops a preview whose update throws; the caller is not disturbed', async () => {
    const clock = new ManualClock();
    let stops = 0;
    let calls = 0;
    const paced = pacedPreview(
      {
        intervalMs: 0,
        update: () => {
          calls++;
          throw new Error('socket gone');
        },
        stop: () => void stops++,
      },
      clock,
      silentLogger(),
    );
    expect(() => paced.update('a')).not.toThrow();
    paced.update('a b');
    expect(calls).toBe(1);
    expect(stops).toBe(1);
  });
});
