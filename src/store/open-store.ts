import { isAbsolute, join } from 'node:path';
import { CocoError, describeError } from '../core/errors.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

const WHERE = { file: 'cococat.yaml', field: 'store.url' } as const;

/**
 * Opens the store `store.url` names: `sqlite:<path>` (relative to the workspace; the embedded
 * default) or `postgres://user[:password]@host[:port]/db[?schema=name]` (several gateway processes
 * sharing one database). The PostgreSQL driver is loaded only when it is used, so a SQLite
 * gateway starts without it.
 */
export async function openStore(root: string, url: string): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return openSqliteStore({ path: path === ':memory:' || isAbsolute(path) ? path : join(root, path) });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { connection, schema } = splitSchema(url);
    const { openPostgresStore } = await import('./postgres/index.js');
    try {
      return await openPostgresStore({ url: connection, schema });
    } catch (err) {
      throw new CocoError('COCO_ERR_STORE', `cococat.yaml: store.url: cannot open ${redactUrl(url)}: ${describeError(err)}`, { ...WHERE, cause: err });
    }
  }
  throw new CocoError('COCO_ERR_CONFIG_INVALID', `cococat.yaml: store.url: unsupported store "${redactUrl(url)}"; use sqlite:<path> or postgres://…`, WHERE);
}

/** `?schema=` is ours, not the driver's: taken off the URL and validated by the store. */
function splitSchema(url: string): { connection: string; schema?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CocoError('COCO_ERR_CONFIG_INVALID', `cococat.yaml: store.url: not a valid URL: ${redactUrl(url)}`, WHERE);
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { connection: parsed.toString(), schema };
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
