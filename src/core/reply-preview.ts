import type { ReplyPreview } from './channel.js';
import type { Clock } from './clock.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Paces a channel's preview for a streaming agent: the first text goes at once, later text at most
 * once per `intervalMs`, and always the newest (a model writes faster than a platform takes
 * updates; the ones in between are never needed). `stop()` drops what is held and stops the
 * channel's preview. A preview that throws is stopped and the agent runs on.
 */
export function pacedPreview(preview: ReplyPreview, clock: Clock, log: Logger): { update(textSoFar: string): void; stop(): void } {
  let stopped = false;
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastText = '';
  let held: string | undefined;
  let cancelTimer: (() => void) | undefined;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    cancelTimer?.();
    held = undefined;
    try {
      preview.stop();
    } catch (err) {
      log.debug({ err: describeError(err) }, 'reply preview did not stop cleanly');
    }
  };

  const show = (text: string) => {
    lastAt = clock.now();
    lastText = text;
    try {
      preview.update(text);
    } catch (err) {
      log.debug({ err: describeError(err) }, 'reply preview failed; the reply is sent when the agent is done');
      stop();
    }
  };

  const flush = () => {
    cancelTimer = undefined;
    if (stopped || held === undefined) return;
    const text = held;
    held = undefined;
    show(text);
  };

  return {
    update(textSoFar) {
      if (stopped || textSoFar === '' || textSoFar === (held ?? lastText)) return;
      const wait = lastAt + preview.intervalMs - clock.now();
      if (wait <= 0 && cancelTimer === undefined) return show(textSoFar);
      held = textSoFar;
      cancelTimer ??= clock.timeout(Math.max(0, wait), flush);
    },
    stop,
  };
}
