/**
 * The regular expressions of keyword replies (`patterns`). An operator's pattern runs on every
 * message of the agent, on the event loop every channel shares: one that backtracks exponentially
 * ((a+)+ on "aaaa…b") would stall the gateway. So a pattern must compile and pass safe-regex2's
 * star-height check, and it reads at most the first MAX_TEXT characters of a message.
 */
import safeRegex from 'safe-regex2';

/** Keyword replies answer short questions; a long message is read this far. */
export const MAX_PATTERN_TEXT = 2_000;

const compiled = new Map<string, RegExp>();

/** Why `source` cannot be a keyword pattern, or undefined when it can. */
export function patternProblem(source: string): string | undefined {
  let re: RegExp;
  try {
    re = new RegExp(source, 'iu');
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
  return safeRegex(re) ? undefined : 'has nested repetition such as (a+)+, which can take exponential time: write it without';
}

/** Whether `text` fits one of the patterns (compiled once each; validated by the profile schema). */
export function fitsPattern(patterns: readonly string[], text: string): boolean {
  const head = text.length > MAX_PATTERN_TEXT ? text.slice(0, MAX_PATTERN_TEXT) : text;
  return patterns.some((source) => {
    let re = compiled.get(source);
    if (!re) compiled.set(source, (re = new RegExp(source, 'iu')));
    return re.test(head);
  });
}
