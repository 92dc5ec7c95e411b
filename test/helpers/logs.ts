import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/core/logger.js';

export interface CapturedLog {
  /** The project's real pino logger (with its redaction), writing JSON lines to memory. */
  log: Logger;
  /**
   * Every line written so far, parsed as JSON. The same array grows as lines are written, so it
   * may be destructured once and read later.
   */
  lines: Record<string, unknown>[];
  /** All text written so far, exactly as pino wrote it (for "never contains this secret" checks). */
  raw: () => string;
}

/** A real pino logger (with the project's redaction) whose output is kept in memory. */
export function captureLogger(level = 'debug'): CapturedLog {
  const chunks: string[] = [];
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      const text = chunk.toString();
      chunks.push(text);
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines, raw: () => chunks.join('') };
}
