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
  'media[*].key',
  '*.media[*].key',
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

/**
 * A child logger created on first use. The heartbeat, the outbox and every HTTP request bind ids
 * for their work but log only on trouble, and pino's child() (with redaction) costs per call.
 * Only the methods Fastify and the gateway call are offered; anything else would be a type lie,
 * so the class is kept to that surface.
 */
class LazyChildLogger {
  private made?: Logger;

  constructor(
    private readonly parent: Logger,
    private readonly bindingsOf: Record<string, unknown>,
  ) {}

  private get logger(): Logger {
    return (this.made ??= this.parent.child(this.bindingsOf));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(value: string) {
    this.logger.level = value;
  }

  fatal(...args: Parameters<Logger['fatal']>): void {
    if (this.isLevelEnabled('fatal')) this.logger.fatal(...args);
  }

  error(...args: Parameters<Logger['error']>): void {
    if (this.isLevelEnabled('error')) this.logger.error(...args);
  }

  warn(...args: Parameters<Logger['warn']>): void {
    if (this.isLevelEnabled('warn')) this.logger.warn(...args);
  }

  info(...args: Parameters<Logger['info']>): void {
    if (this.isLevelEnabled('info')) this.logger.info(...args);
  }

  debug(...args: Parameters<Logger['debug']>): void {
    if (this.isLevelEnabled('debug')) this.logger.debug(...args);
  }

  trace(...args: Parameters<Logger['trace']>): void {
    if (this.isLevelEnabled('trace')) this.logger.trace(...args);
  }

  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>): Logger {
    return this.logger.child(bindings);
  }

  bindings(): Record<string, unknown> {
    return this.logger.bindings();
  }

  flush(cb?: (err?: Error) => void): void {
    this.logger.flush(cb);
  }
}

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChildLogger(parent, bindings) as unknown as Logger;
}
