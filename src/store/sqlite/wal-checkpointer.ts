import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Copies the write-ahead log back into the database file from a worker thread, with its own
 * connection. A checkpoint copies every page the WAL holds and fsyncs twice; run by the gateway's
 * connection (SQLite's autocheckpoint), it stalls the event loop: 165–226 ms per 40 MB of WAL on
 * the benchmark machine, about once a second under load. Here it runs on another core while the
 * gateway keeps committing (a PASSIVE checkpoint never blocks writers). It cannot restart the log
 * while writes go on; the store's connection does that rarely, copying only what is left.
 */
export interface WalCheckpointer {
  /** Stops the worker and closes its connection; the caller's own close then checkpoints the rest. */
  stop(): Promise<void>;
}

export interface WalCheckpointerOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  intervalMs?: number;
  /** Called once if the worker fails; the caller then checkpoints on its own connection again. */
  onFailure(err: Error): void;
}

// Plain CommonJS run with `eval`, so the same code works from src/ (tests) and dist/ with no build step.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let db;
let timer;
const fail = (err) => {
  clearTimeout(timer);
  // Sent as text: a SqliteError loses its message when cloned to the parent thread.
  parentPort.postMessage({ failed: err instanceof Error ? err.message : String(err) });
  parentPort.close();
};
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    return fail(err);
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
parentPort.once('message', () => {
  clearTimeout(timer);
  db?.close();
  parentPort.close();
});
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // The checkpoint's fsyncs follow this connection's setting: the same as the gateway's.
  db.pragma('synchronous = ' + workerData.synchronous);
  tick();
} catch (err) {
  fail(err);
}
`;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

export function startWalCheckpointer(opts: WalCheckpointerOptions): WalCheckpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, path: opts.path, synchronous: opts.synchronous, intervalMs: opts.intervalMs ?? 100 },
    // A checkpoint holds a few pages at a time; the defaults would reserve far more.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
  });
  // Never what keeps the process alive.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: { failed?: string }) => {
    if (m.failed !== undefined) opts.onFailure(new Error(`WAL checkpoint worker: ${m.failed}`));
  });
  worker.once('error', (err) => opts.onFailure(err));
  return {
    async stop() {
      // Held again while it winds down: otherwise a process with nothing else to do exits mid-await.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
