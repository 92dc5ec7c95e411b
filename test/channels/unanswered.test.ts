import { describe, expect, it } from 'vitest';
import { UnansweredMessages } from '../../src/channels/shared/unanswered.js';
import { ManualClock } from '../../src/core/clock.js';
import { bus } from '../helpers/signals.js';

describe('messages finished without a reply', () => {
  it('are known in the process that finished them and, through signals, in the others, for five minutes', () => {
    const b = bus();
    const clock = new ManualClock();
    const here = new UnansweredMessages(b.signals('a'), clock);
    const there = new UnansweredMessages(b.signals('b'), clock);
    here.start();
    there.start();
    const woken: string[] = [];
    const unsubscribe = there.subscribe((id) => woken.push(id));

    here.heard('41');
    expect([here.has('41'), there.has('41'), there.has('42')]).toEqual([true, true, false]);
    expect(woken).toEqual(['41']);
    expect(b.sent).toEqual([{ from: 'a', topic: 'unanswered', body: '41' }]);

    clock.advance(5 * 60_000 - 1);
    expect(there.has('41')).toBe(true);
    clock.advance(1);
    expect([here.has('41'), there.has('41')]).toEqual([false, false]);

    // A signal lost on the way only costs the other process its wait.
    b.drop(1);
    here.heard('43');
    expect([here.has('43'), there.has('43')]).toEqual([true, false]);
    unsubscribe();
    here.heard('44');
    expect(woken).toEqual(['41']);
    there.stop();
    here.heard('45');
    expect(there.has('45')).toBe(false);
  });

  it('remembers at most 10 000, forgetting the oldest first', () => {
    const clock = new ManualClock();
    const seen = new UnansweredMessages(bus().signals('a'), clock);
    for (let i = 0; i < 10_001; i++) seen.heard(String(i));
    expect([seen.has('0'), seen.has('1'), seen.has('10000')]).toEqual([false, true, true]);
  });
});
