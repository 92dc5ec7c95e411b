import { chmodSync, cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { SecretVault, resolveReferences } from '../../config/secrets.js';
import { loadWorkspace } from '../../config/workspace.js';
import { describeError } from '../../core/errors.js';
import { redactUrl } from '../../store/open-store.js';

/**
 * `cococat backup DEST`: a copy of a workspace that is itself a workspace, taken while the gateway
 * runs. The configuration and the secrets are copied as files; the SQLite store as one consistent
 * snapshot (`VACUUM INTO`: a single read transaction, which in WAL mode never holds up the running
 * gateway's writes, and a compact file). Restoring is starting from the copy, or putting it back in
 * place with the gateway stopped. A PostgreSQL store is the database's to back up (pg_dump).
 */
export interface BackupOptions {
  workspace: string;
  dest: string;
  env: Record<string, string | undefined>;
  print(line: string): void;
}

/** The store's files beside the database itself: never copied as they are (the snapshot holds their content). */
const SQLITE_SIDE_FILES = ['', '-wal', '-shm', '-journal'];

export function backupCommand(opts: BackupOptions): number {
  const root = resolve(opts.workspace);
  const dest = resolve(opts.dest);
  if (!existsSync(join(root, 'cococat.yaml'))) {
    console.error(`✗ ${root} is not a workspace (no cococat.yaml)`);
    return 2;
  }
  if (existsSync(dest)) {
    console.error(`✗ ${dest} exists already; name a new folder (a backup never overwrites one)`);
    return 2;
  }
  if (dest === root || dest.startsWith(root + sep)) {
    console.error(`✗ ${dest} is inside the workspace; put the backup elsewhere`);
    return 2;
  }
  const started = Date.now();
  const snapshot = loadWorkspace(root);
  const url = resolveReferences(snapshot.settings.store.url, { env: opts.env, vault: new SecretVault(root), file: 'cococat.yaml' }, ['store', 'url']);
  const database = sqlitePath(root, url);
  const skipped = new Set(database ? SQLITE_SIDE_FILES.map((suffix) => database + suffix) : []);

  // The copy holds secrets (data/secrets.json): readable by its owner only, like the workspace's.
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  chmodSync(dest, 0o700);
  cpSync(root, dest, { recursive: true, preserveTimestamps: true, filter: (source) => !skipped.has(source) });
  opts.print(`✓ configuration and secrets copied from ${root}`);

  if (database) {
    if (!existsSync(database)) {
      opts.print(`  no store yet at ${database}: nothing to snapshot`);
    } else {
      const inside = relative(root, database);
      const target = !inside.startsWith('..') && !isAbsolute(inside) ? join(dest, inside) : join(dest, 'data', 'cococat.db');
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      let held: { messages: number; bytes: number };
      try {
        snapshotSqlite(database, target);
        chmodSync(target, 0o600);
        held = describeSnapshot(target);
      } catch (err) {
        console.error(`✗ store snapshot failed: ${describeError(err)} (the copy in ${dest} is incomplete: remove it)`);
        return 1;
      }
      const { messages, bytes } = held;
      opts.print(`✓ store snapshot: ${relative(dest, target)}, ${messages} message(s), ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
      if (target.endsWith(join('data', 'cococat.db')) && inside.startsWith('..')) {
        opts.print(`  the workspace's store.url points outside it (${database}); the copy's cococat.yaml still does: point it at data/cococat.db to start from the copy`);
      }
    }
  } else {
    opts.print(`  the store is ${redactUrl(url)}: back its database up with pg_dump (the copy holds the configuration only)`);
  }
  opts.print(`✓ backup in ${dest} (${Date.now() - started} ms); start from it with "cococat start --workspace ${opts.dest}", or stop the gateway and put it in place of the workspace`);
  return 0;
}

/** The SQLite store's file, or undefined for a PostgreSQL store. */
function sqlitePath(root: string, url: string): string | undefined {
  if (!url.startsWith('sqlite:')) return undefined;
  const path = url.slice('sqlite:'.length);
  return isAbsolute(path) ? path : join(root, path);
}

/** One consistent copy of the database, taken while the gateway may be writing to it. */
function snapshotSqlite(source: string, target: string): void {
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('VACUUM INTO ?').run(target);
  } finally {
    db.close();
  }
}

/** What the snapshot holds, read back from it: proof it opens and is whole. */
function describeSnapshot(path: string): { messages: number; bytes: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`the snapshot fails SQLite's quick_check: ${String(check)}`);
    const { n } = db.prepare('SELECT count(*) AS n FROM inbound').get() as { n: number };
    return { messages: n, bytes: statSync(path).size };
  } finally {
    db.close();
  }
}
