/**
 * How much of a conversation's history goes to the agent. A model refuses a request longer than its
 * context window, and every later message of that conversation would carry the same long history:
 * one pasted document would break the conversation until a reset. So the history is cut to a budget
 * of characters first (`history_max_chars`), and cut again when the model still refuses. A user who
 * comes back after a long pause (`history_idle_minutes`) starts afresh, as with a person who would
 * not hold them to last week's question.
 */

/** The turns the agent is given of a conversation's loaded ones, for a message that arrived at `at`. */
export function historyFor<T extends { role: string; content: string; at: number }>(
  turns: T[],
  profile: { history_max_chars: number; history_idle_minutes?: number },
  at: number,
): T[] {
  const recent = profile.history_idle_minutes === undefined ? turns : sinceLastPause(turns, profile.history_idle_minutes * 60_000, at);
  return fitHistory(recent, profile.history_max_chars);
}

/** The turns after the conversation's last pause longer than `idleMs`, counting the one before `at`: none when it was quiet that long before `at`. */
export function sinceLastPause<T extends { at: number }>(turns: T[], idleMs: number, at: number): T[] {
  let start = turns.length;
  let next = at;
  while (start > 0 && next - turns[start - 1]!.at <= idleMs) next = turns[--start]!.at;
  return start === 0 ? turns : turns.slice(start);
}

/**
 * The newest turns whose text adds up to at most `maxChars`, never an older turn after a dropped
 * newer one, and starting with a user's turn (an answer without its question misleads the model).
 */
export function fitHistory<T extends { role: string; content: string }>(turns: T[], maxChars: number): T[] {
  let start = turns.length;
  let total = 0;
  while (start > 0 && total + turns[start - 1]!.content.length <= maxChars) total += turns[--start]!.content.length;
  return fromUserTurn(turns, start);
}

/** The newer half of the turns (none of one), starting with a user's turn: a retry after the model refused the length. */
export function halveHistory<T extends { role: string }>(turns: T[]): T[] {
  return fromUserTurn(turns, turns.length - Math.floor(turns.length / 2));
}

function fromUserTurn<T extends { role: string }>(turns: T[], start: number): T[] {
  while (start < turns.length && turns[start]!.role !== 'user') start++;
  return start === 0 ? turns : turns.slice(start);
}
