import { afterEach } from 'vitest';

/** What a test starts and has to stop: a TestGateway, a fake platform, FakeLlm, an SseClient, a CallbackReceiver… */
export interface Closable {
  close(): unknown;
}

/** Hands `resource` to the cleanup after the test and returns it: `const fake = opened(await FakeWecom.start())`. */
export type Opened = <T extends Closable>(resource: T) => T;

/**
 * One cleanup for everything a test starts, so test files keep their gateways and fakes in locals
 * instead of module-level variables that an afterEach closes. Each resource handed to the returned
 * function during a test is closed after it, passed or failed, newest first: the gateway before the
 * fakes and models it talks to, a stream before its gateway. Every close is awaited; one that throws
 * does not keep the rest open, and the first error is thrown once all were tried.
 *
 * A resource the test closed itself (to restart a gateway on the same workspace, or to set up again)
 * is left alone after the test: its `close` is wrapped to note the call, and passes it on unchanged.
 *
 * Call it once at the top of the file (or of a describe block), like tempDirs(). `hook` is vitest's
 * afterEach; only this helper's own test passes another.
 */
export function closeAfterEach(hook: (cleanup: () => Promise<void>) => void = afterEach): Opened {
  const open: { resource: Closable; closedByTest: boolean }[] = [];
  hook(async () => {
    let failure: { error: unknown } | undefined;
    for (const entry of open.splice(0).reverse()) {
      if (entry.closedByTest) continue;
      try {
        await entry.resource.close();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  });
  return <T extends Closable>(resource: T): T => {
    const entry = { resource, closedByTest: false };
    const close = resource.close;
    resource.close = ((...args: unknown[]) => {
      entry.closedByTest = true;
      return Reflect.apply(close, resource, args);
    }) as T['close'];
    open.push(entry);
    return resource;
  };
}
