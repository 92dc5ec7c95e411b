import { describe, expect, it } from 'vitest';
import { fitHistory, halveHistory, historyFor, sinceLastPause } from '../../src/core/history-budget.js';

const turn = (role: 'user' | 'assistant', chars: number, tag = '') => ({ role, content: tag + 'x'.repeat(chars - tag.length) });

describe('fitHistory', () => {
  it('keeps the newest turns within the budget, never an older one past a dropped newer one, and starts with a user turn', () => {
    const turns = [turn('user', 100, 'a'), turn('assistant', 100, 'b'), turn('user', 5_000, 'c'), turn('assistant', 100, 'd'), turn('user', 100, 'e'), turn('assistant', 100, 'f')];
    expect(fitHistory(turns, 10_000)).toBe(turns);
    // The pasted 5 000 characters do not fit: it goes, and so does everything before it; the orphan answer "d" goes too.
    expect(fitHistory(turns, 1_000).map((t) => t.content[0])).toEqual(['e', 'f']);
    expect(fitHistory(turns, 5_300).map((t) => t.content[0])).toEqual(['c', 'd', 'e', 'f']);
    expect(fitHistory([turn('user', 2_000)], 1_000)).toEqual([]);
    expect(fitHistory([], 1_000)).toEqual([]);
  });
});

describe('halveHistory', () => {
  it('keeps the newer half, from a user turn, down to none', () => {
    const turns = ['u1', 'a1', 'u2', 'a2', 'u3', 'a3', 'u4', 'a4'].map((c) => ({ role: c[0] === 'u' ? 'user' : 'assistant', content: c }));
    const half = halveHistory(turns);
    expect(half.map((t) => t.content)).toEqual(['u3', 'a3', 'u4', 'a4']);
    expect(halveHistory(half).map((t) => t.content)).toEqual(['u4', 'a4']);
    expect(halveHistory(halveHistory(half))).toEqual([]);
    // An odd count: the newer half rounded down, then back to its first user turn.
    expect(halveHistory(turns.slice(0, 5)).map((t) => t.content)).toEqual(['u3']);
  });
});

describe('sinceLastPause and historyFor', () => {
  const H = 3_600_000;
  const turns = [
    { role: 'user', content: 'last week', at: 0 },
    { role: 'assistant', content: 'answer', at: 1_000 },
    { role: 'user', content: 'this morning', at: 100 * H },
    { role: 'assistant', content: 'answer', at: 100 * H + 1_000 },
  ];

  it('keeps the turns after the last pause longer than the idle time, counting the pause before the new message', () => {
    expect(sinceLastPause(turns, 24 * H, 101 * H).map((t) => t.content)).toEqual(['this morning', 'answer']);
    expect(sinceLastPause(turns, 200 * H, 101 * H)).toBe(turns);
    // Quiet for more than a day before the new message: nothing.
    expect(sinceLastPause(turns, 24 * H, 130 * H)).toEqual([]);
  });

  it('applies the idle time, when the profile has one, then the character budget', () => {
    expect(historyFor(turns, { history_max_chars: 24_000, history_idle_minutes: 60 * 24 }, 101 * H).map((t) => t.content)).toEqual(['this morning', 'answer']);
    expect(historyFor(turns, { history_max_chars: 24_000 }, 101 * H)).toBe(turns);
    expect(historyFor(turns, { history_max_chars: 20 }, 101 * H).map((t) => t.content)).toEqual(['this morning', 'answer']);
  });
});
