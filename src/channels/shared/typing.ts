import type { Typing } from '../../core/channel.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

/**
 * A typing indicator from two platform calls. `on(stillWanted)` shows it and resolves true when the
 * platform took it (it may check `stillWanted()` between steps); `off()` runs after `on` settled,
 * never ahead of it, and only if it was shown. Failures are logged at debug level and go no further.
 */
export function typingIndicator(opts: {
  on(stillWanted: () => boolean): Promise<boolean>;
  off(): Promise<unknown>;
  log: Logger;
  channel: string;
}): Typing {
  let stopped = false;
  const quiet = (err: unknown) => opts.log.debug({ err: describeError(err) }, `${opts.channel} typing not shown`);
  const shown = opts.on(() => !stopped).catch((err: unknown) => {
    quiet(err);
    return false;
  });
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      void shown.then((on) => (on ? opts.off() : undefined)).catch(quiet);
    },
  };
}
