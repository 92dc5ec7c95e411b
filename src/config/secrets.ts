import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * Secret values entered through the admin API or `cococat init` live in `data/secrets.json`
 * (mode 0600), and the config files hold only `${secret:name}` references, so workspace files
 * can be shared or committed without leaking credentials.
 */
export class SecretVault {
  private readonly path: string;
  /** The file as last read, and what identified that version of it: read again only once it changed. */
  private cache?: { version: string; all: Readonly<Record<string, string>> };

  constructor(workspaceRoot: string) {
    this.path = join(workspaceRoot, 'data', 'secrets.json');
  }

  /**
   * Every stored secret. References are resolved often (a `${secret:…}` notify URL at every notice
   * check), so the file is read only when its inode, size or modification time changed: a write
   * here replaces it (new inode), an edit by hand changes the rest (the time at the file system's
   * tick, a few ms: two same-size edits in place within one tick would look like one).
   */
  private readAll(): Readonly<Record<string, string>> {
    const stat = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    if (!stat) return {};
    const version = `${stat.ino}:${stat.size}:${stat.mtimeNs}`;
    if (this.cache?.version === version) return this.cache.all;
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
      const all = parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
      this.cache = { version, all };
      return all;
    } catch (cause) {
      throw new CocoError('COCO_ERR_CONFIG_PARSE', `${this.path} is not valid JSON`, { cause, file: this.path });
    }
  }

  get(name: string): string | undefined {
    const all = this.readAll();
    return Object.hasOwn(all, name) ? all[name] : undefined;
  }

  /** Stores a value and returns the reference to put in config. */
  put(name: string, value: string): string {
    const all = { ...this.readAll() };
    all[name] = value;
    writeFileAtomic(this.path, `${JSON.stringify(all, null, 2)}\n`, 0o600);
    return `\${secret:${name}}`;
  }

  delete(names: string[]): void {
    const all = { ...this.readAll() };
    let changed = false;
    for (const name of names) {
      if (name in all) {
        delete all[name];
        changed = true;
      }
    }
    if (changed) writeFileAtomic(this.path, `${JSON.stringify(all, null, 2)}\n`, 0o600);
  }
}

const REF = /\$\{(secret:)?([A-Za-z0-9_.:-]+)\}/g;

export interface ResolveContext {
  env: Record<string, string | undefined>;
  vault: SecretVault;
  file: string;
}

/** True when a string holds a `${…}` reference rather than a value. */
export function isReference(value: unknown): value is string {
  return typeof value === 'string' && /^\$\{[^}]+\}$/.test(value);
}

/**
 * Replaces `${ENV_NAME}` and `${secret:name}` in every string of a config object. A missing value is
 * an error naming the file and field, never an empty string that fails later in a confusing way.
 */
export function resolveReferences<T>(value: T, ctx: ResolveContext, path: string[] = []): T {
  if (typeof value === 'string') {
    return value.replace(REF, (_match, isSecret: string | undefined, name: string) => {
      const resolved = isSecret ? ctx.vault.get(name) : ctx.env[name];
      if (resolved === undefined || resolved === '') {
        const what = isSecret ? `secret "${name}" is not in data/secrets.json` : `environment variable ${name} is not set`;
        throw new CocoError('COCO_ERR_CONFIG_ENV_MISSING', `${ctx.file}: ${path.join('.') || '(value)'}: ${what}`, {
          file: ctx.file,
          field: path.join('.'),
        });
      }
      return resolved;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, ctx, [...path, String(i)])) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveReferences(v, ctx, [...path, k]);
    return out as T;
  }
  return value;
}
