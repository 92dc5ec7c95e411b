import { currentLanguage, i18n } from '../i18n';
import type { JsonSchema, SecretState } from './types';

/**
 * Turns a JSON Schema (as zod writes it) into form fields, drafts and request values. Drafts hold
 * what the inputs show (text for numbers, so a half-typed value survives); `toValue` validates
 * them with the schema's own limits and builds the object the admin API expects.
 */

export type FieldKind = 'string' | 'text' | 'secret' | 'number' | 'boolean' | 'enum' | 'suggest' | 'list' | 'json';

export type Draft = Record<string, string | boolean>;
/** What to do with a write-only field: keep the stored value, send a new one, or remove it. */
export type SecretMode = 'keep' | 'replace' | 'clear';
export type SecretModes = Record<string, SecretMode>;
export type FieldErrors = Record<string, string>;

export const SECRET_MASK = '********';

const WORDS: Record<string, string> = { api: 'API', url: 'URL', id: 'ID', aes: 'AES', http: 'HTTP', ws: 'WebSocket', ms: '(ms)', ip: 'IP' };

/** "rate_limit_per_minute" → "Rate limit per minute", "api_key" → "API key". */
export function humanize(name: string): string {
  const words = name.split(/[_\s]+/).filter(Boolean).map((w) => WORDS[w.toLowerCase()] ?? w.toLowerCase());
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A field's label and help in the panel's language: the schema's own words for it, else the English ones. */
export function fieldText(name: string, prop: JsonSchema | undefined): { label: string; help?: string } {
  const local = prop?.['x-i18n']?.[currentLanguage()];
  const help = local?.description ?? prop?.description;
  return { label: local?.title ?? prop?.title ?? humanize(name), ...(help !== undefined ? { help } : {}) };
}

function types(s: JsonSchema): string[] {
  return Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
}

export function isSecret(s: JsonSchema): boolean {
  return s['x-secret'] === true || s.writeOnly === true;
}

export function fieldKind(s: JsonSchema): FieldKind {
  if (isSecret(s)) return 'secret';
  if (s.enum && s.enum.length > 0) return 'enum';
  const t = types(s);
  if (t.includes('boolean') && t.length === 1) return 'boolean';
  if ((t.includes('integer') || t.includes('number')) && t.length === 1) return 'number';
  if (t.length === 1 && t[0] === 'string') return (s.maxLength ?? 0) > 2_000 ? 'text' : 'string';
  if (t[0] === 'array' && s.items && types(s.items).join() === 'string') return 'list';
  // A union of plain strings, some of them fixed choices (feishu's domain: feishu | lark | a URL).
  const union = s.anyOf ?? s.oneOf;
  if (!s.type && union?.every((b) => types(b).join() === 'string')) return 'suggest';
  return 'json';
}

/** Fixed choices offered by an enum or a string union. */
export function choices(s: JsonSchema): string[] {
  if (s.enum) return s.enum.map(String);
  return (s.anyOf ?? s.oneOf ?? []).flatMap((b) => (b.enum ?? (b.const !== undefined ? [b.const] : [])).map(String));
}

/** A union of objects that one property tells apart (`provider: echo | openai | http`). */
export interface Branches {
  discriminator: string;
  options: { value: string; schema: JsonSchema }[];
}

export function branchesOf(schema: JsonSchema): Branches | undefined {
  const list = schema.oneOf ?? schema.anyOf;
  if (!list || !list.every((b) => b.properties)) return undefined;
  const first = list[0]?.properties ?? {};
  const discriminator = Object.keys(first).find((name) => list.every((b) => b.properties?.[name]?.const !== undefined));
  if (!discriminator) return undefined;
  return { discriminator, options: list.map((b) => ({ value: String(b.properties![discriminator]!.const), schema: b })) };
}

/** The object branch to draw: the schema itself, or the union member the discriminator picks. */
export function branchFor(schema: JsonSchema, draft: Draft): JsonSchema | undefined {
  const branches = branchesOf(schema);
  if (!branches) return schema.properties ? schema : undefined;
  return branches.options.find((o) => o.value === draft[branches.discriminator])?.schema ?? branches.options[0]?.schema;
}

/** Inputs' starting state: stored values (secrets never), or the schema's defaults for a new item. */
export function initialDraft(schema: JsonSchema, stored?: Record<string, unknown>): Draft {
  const draft: Draft = {};
  const branches = branchesOf(schema);
  const candidates = branches ? branches.options.map((o) => o.schema) : [schema];
  if (branches) draft[branches.discriminator] = String(stored?.[branches.discriminator] ?? branches.options[0]?.value ?? '');
  for (const branch of candidates) {
    for (const [name, prop] of Object.entries(branch.properties ?? {})) {
      if (name in draft || prop.const !== undefined) continue;
      const kind = fieldKind(prop);
      if (kind === 'secret') {
        draft[name] = '';
        continue;
      }
      const value = stored ? stored[name] : prop.default;
      draft[name] = toDraft(kind, value);
    }
  }
  return draft;
}

function toDraft(kind: FieldKind, value: unknown): string | boolean {
  if (kind === 'boolean') return value === true;
  if (value === undefined || value === null) return '';
  if (kind === 'list') return Array.isArray(value) ? value.map(String).join('\n') : '';
  if (kind === 'json') return JSON.stringify(value, null, 2);
  return String(value);
}

/** Secret fields start as "keep" when stored, else "replace" (an empty input to fill in). */
export function initialSecretModes(schema: JsonSchema, secrets?: Record<string, SecretState>): SecretModes {
  const modes: SecretModes = {};
  const branches = branchesOf(schema);
  for (const branch of branches ? branches.options.map((o) => o.schema) : [schema]) {
    for (const [name, prop] of Object.entries(branch.properties ?? {})) {
      if (isSecret(prop)) modes[name] = secrets?.[name]?.set ? 'keep' : 'replace';
    }
  }
  return modes;
}

/** One field's problem, worded like the server's messages; undefined when fine. */
export function checkField(prop: JsonSchema, raw: string | boolean, required: boolean): string | undefined {
  const kind = fieldKind(prop);
  if (kind === 'boolean') return undefined;
  const text = String(raw);
  if (text.trim() === '') return required ? i18n.t('check.required') : undefined;
  if (kind === 'number') {
    const n = Number(text);
    if (!Number.isFinite(n)) return i18n.t('check.number');
    if (types(prop).includes('integer') && !Number.isInteger(n)) return i18n.t('check.wholeNumber');
    if (prop.minimum !== undefined && n < prop.minimum) return i18n.t('check.atLeast', { n: prop.minimum });
    if (prop.maximum !== undefined && n > prop.maximum) return i18n.t('check.atMost', { n: prop.maximum });
    if (prop.exclusiveMinimum !== undefined && n <= prop.exclusiveMinimum) return i18n.t('check.moreThan', { n: prop.exclusiveMinimum });
    if (prop.exclusiveMaximum !== undefined && n >= prop.exclusiveMaximum) return i18n.t('check.lessThan', { n: prop.exclusiveMaximum });
    return undefined;
  }
  if (kind === 'json') {
    try {
      JSON.parse(text);
    } catch {
      return i18n.t('check.json');
    }
    return undefined;
  }
  if (kind === 'list') return undefined;
  // ${ENV_NAME} references are resolved by the server; their value cannot be checked here.
  if (/^\$\{[^}]+\}$/.test(text.trim())) return undefined;
  if (prop.minLength !== undefined && text.length < prop.minLength) return i18n.t('check.minLength', { n: prop.minLength });
  if (prop.maxLength !== undefined && text.length > prop.maxLength) return i18n.t('check.maxLength', { n: prop.maxLength });
  if (prop.pattern && !safeRegExp(prop.pattern)?.test(text)) return i18n.t('check.pattern');
  if (prop.format === 'uri' || prop.format === 'url') {
    try {
      new URL(text);
    } catch {
      return i18n.t('check.url');
    }
  }
  return undefined;
}

function safeRegExp(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
}

/**
 * The request value for a draft, or the field errors that stop it. Empty optional fields are left
 * out (the server applies its default); a kept secret is left out too, which keeps the stored one.
 */
export function toValue(
  schema: JsonSchema,
  draft: Draft,
  modes: SecretModes,
): { value: Record<string, unknown>; errors: FieldErrors } {
  const branch = branchFor(schema, draft);
  const branches = branchesOf(schema);
  const value: Record<string, unknown> = {};
  const errors: FieldErrors = {};
  if (branches) value[branches.discriminator] = draft[branches.discriminator];
  if (!branch) return { value, errors };
  const required = new Set(branch.required ?? []);
  for (const [name, prop] of Object.entries(branch.properties ?? {})) {
    if (prop.const !== undefined) continue;
    const kind = fieldKind(prop);
    const raw = draft[name] ?? '';
    if (kind === 'secret') {
      const mode = modes[name] ?? 'replace';
      if (mode === 'clear') value[name] = null;
      if (mode !== 'replace') continue;
      const problem = String(raw) === '' && modes[name] === 'replace' && !required.has(name) ? undefined : checkField(prop, raw, true);
      if (problem) errors[name] = problem;
      else if (String(raw) !== '') value[name] = String(raw);
      continue;
    }
    const problem = checkField(prop, raw, required.has(name));
    if (problem) {
      errors[name] = problem;
      continue;
    }
    if (kind === 'boolean') value[name] = raw === true;
    else if (String(raw).trim() === '') continue;
    else if (kind === 'number') value[name] = Number(raw);
    else if (kind === 'list') value[name] = String(raw).split('\n').map((s) => s.trim()).filter(Boolean);
    else if (kind === 'json') value[name] = JSON.parse(String(raw));
    else if (kind === 'enum') value[name] = prop.enum!.find((e) => String(e) === raw) ?? raw;
    else value[name] = String(raw);
  }
  return { value, errors };
}
