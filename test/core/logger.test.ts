import Fastify, { LogController } from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazyChild } from '../../src/core/logger.js';
import { captureLogger } from '../helpers/logs.js';

function capture(level = 'info') {
  const { log, lines } = captureLogger(level);
  let children = 0;
  const child = log.child;
  // Counts the pino children made, to show that a logger nobody writes to makes none.
  log.child = function (this: typeof log, ...args: Parameters<typeof child>) {
    children++;
    return child.apply(this, args);
  } as typeof log.child;
  return { log, lines, children: () => children };
}

describe('lazyChild', () => {
  it('makes the pino child only when a line is written at an enabled level, and that line carries the bindings', () => {
    const { log, lines, children } = capture('info');
    const quiet = lazyChild(log, { entry: 'bot.web_api', messageId: '7' });
    quiet.debug('not at info');
    quiet.trace('nor this');
    expect(quiet.level).toBe('info');
    expect(quiet.isLevelEnabled('debug')).toBe(false);
    expect(children()).toBe(0);
    expect(lines).toEqual([]);

    quiet.warn({ attempts: 2 }, 'retrying');
    quiet.error('failed');
    expect(children()).toBe(1);
    expect(lines.map((l) => [l.msg, l.entry, l.messageId, l.attempts])).toEqual([
      ['retrying', 'bot.web_api', '7', 2],
      ['failed', 'bot.web_api', '7', undefined],
    ]);
  });

  it('keeps redaction: a secret bound or logged through it is blanked', () => {
    const { log, lines } = capture('info');
    const child = lazyChild(log, { entry: 'e', token: 'tok-secret-123' });
    child.info({ api_key: 'sk-secret-456' }, 'hello');
    child.child({ sub: 1 }).info('nested');
    const text = JSON.stringify(lines);
    expect(lines).toHaveLength(2);
    expect(text).not.toContain('tok-secret-123');
    expect(text).not.toContain('sk-secret-456');
    expect(lines[1]).toMatchObject({ msg: 'nested', entry: 'e', sub: 1 });
  });

  it('serves as Fastify request logger: quiet requests make no child, a failing one logs with its reqId', async () => {
    const { log, lines, children } = capture('info');
    const app = Fastify({
      loggerInstance: log,
      logController: new LogController({ disableRequestLogging: true }),
      childLoggerFactory: (logger, bindings) => lazyChild(logger as typeof log, bindings),
    });
    app.get('/ok', async () => ({ ok: true }));
    app.get('/boom', async (request) => {
      request.log.error({ where: 'handler' }, 'boom');
      return { ok: false };
    });
    await app.ready();
    const before = children();
    const ok = await app.inject('/ok');
    expect(ok.statusCode).toBe(200);
    expect(children()).toBe(before);
    await app.inject('/boom');
    expect(children()).toBe(before + 1);
    const boom = lines.find((l) => l.msg === 'boom');
    expect(boom).toMatchObject({ where: 'handler', level: 50 });
    expect(typeof boom?.reqId).toBe('string');
    await app.close();
  });
});

describe('redaction of media keys', () => {
  it('blanks a media item\'s decryption key in a logged message, at the top level or one object down', () => {
    const { log, lines } = captureLogger('info');
    const media = [{ kind: 'image', ref: 'https://cdn/x', key: 'aes-key-secret-1' }];
    log.info({ media }, 'top');
    log.info({ message: { msgId: 'm1', media } }, 'nested');
    expect(JSON.stringify(lines)).not.toContain('aes-key-secret-1');
    expect((lines[0]!.media as { key: string }[])[0]!.key).toBe('[redacted]');
    expect((lines[1]!.message as { media: { key: string; ref: string }[] }).media[0]).toEqual({ kind: 'image', ref: 'https://cdn/x', key: '[redacted]' });
  });
});
