import { describe, expect, it } from 'vitest';
import { closeAfterEach } from './cleanup.js';

/** closeAfterEach() with the cleanup it registers kept here, to run it when the test says. */
function withCleanup() {
  let cleanup: (() => Promise<void>) | undefined;
  const opened = closeAfterEach((fn) => (cleanup = fn));
  return { opened, cleanup: () => cleanup!() };
}

/** A resource that notes its closing in `log` after `ms`, and then throws `error` when given one. */
function resource(name: string, log: string[], error?: Error, ms = 1) {
  return {
    name,
    async close(how?: string) {
      await new Promise((r) => setTimeout(r, ms));
      log.push(how ? `${name} (${how})` : name);
      if (error) throw error;
    },
  };
}

describe('closeAfterEach', () => {
  it('closes every resource newest first, each awaited before the next, and hands each back as it was', async () => {
    const { opened, cleanup } = withCleanup();
    const log: string[] = [];
    // The slowest close first: closes not awaited one by one would be noted fastest first.
    const llm = opened(resource('llm', log, undefined, 1));
    const fake = opened(resource('fake', log, undefined, 10));
    const gateway = opened(resource('gateway', log, undefined, 20));
    expect([llm.name, fake.name, gateway.name]).toEqual(['llm', 'fake', 'gateway']);
    await cleanup();
    expect(log).toEqual(['gateway', 'fake', 'llm']);
  });

  it('closes the rest when one close throws, then throws the first error', async () => {
    const { opened, cleanup } = withCleanup();
    const log: string[] = [];
    opened(resource('first', log));
    opened(resource('second', log, new Error('second failed')));
    opened(resource('third', log, new Error('third failed')));
    await expect(cleanup()).rejects.toThrow('third failed');
    expect(log).toEqual(['third', 'second', 'first']);
  });

  it('closes each resource once: the next cleanup closes only what was opened since', async () => {
    const { opened, cleanup } = withCleanup();
    const log: string[] = [];
    opened(resource('one', log, new Error('one failed')));
    await expect(cleanup()).rejects.toThrow('one failed');
    opened(resource('two', log));
    await cleanup();
    await cleanup();
    expect(log).toEqual(['one', 'two']);
  });

  it('leaves a resource the test closed itself alone, passing the call on as it was made', async () => {
    const { opened, cleanup } = withCleanup();
    const log: string[] = [];
    const first = opened(resource('first', log));
    await first.close('keep the workspace');
    opened(resource('restarted', log));
    await cleanup();
    expect(log).toEqual(['first (keep the workspace)', 'restarted']);
  });
});

describe('closeAfterEach with vitest', () => {
  const opened = closeAfterEach();
  const log: string[] = [];

  it('registers its cleanup as an afterEach', () => {
    opened(resource('from the test before', log));
    expect(log).toEqual([]);
  });

  it('so the next test finds it closed', () => {
    expect(log).toEqual(['from the test before']);
  });
});
