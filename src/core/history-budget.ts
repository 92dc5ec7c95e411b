/**
 * How much of a conversation's history goes to the agent. A model refuses a request longer than its
 * context window, and every later message of that conversation would carry the same long history:
 * one pasted document would break the conversation until a reset. So the history is cut to a budget
 * of characters first (`history_max_chars`), and cut again when the model still refuses.
 */

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
