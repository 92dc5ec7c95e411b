import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths pino blanks out wherever they appear. Channel configs never reach the log as a whole;
 * these catch the usual secret field names if one slips into a log object anyway.
 */
const REDACT_PATHS = [
  'config',
  '*.config',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'password',
  '*.password',
];

export interface LoggerSettings {
  level?: string;
  /** Human-readable output (for a terminal); JSON otherwise. */
  pretty?: boolean;
  /** Where JSON lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (settings.pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return settings.destination ? pino(options, settings.destination as pino.DestinationStream) : pino(options);
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
