/** Request checks and the getupdates cursor. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isRecord } from '../http.js';

export const randomToken = (bytes = 16): string => randomBytes(bytes).toString('base64url');

/** Request headers with lower-case names, repeated values joined. */
export function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `X-WECHAT-UIN` must be base64 of the decimal string of a uint32. */
function uinProblem(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return 'missing header X-WECHAT-UIN';
  if (!BASE64.test(value) || value.length % 4 !== 0) return 'header X-WECHAT-UIN is not base64';
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  if (!/^\d{1,10}$/.test(decoded) || Number(decoded) > 0xffff_ffff) return `header X-WECHAT-UIN must encode a decimal uint32, got "${decoded}"`;
  return undefined;
}

/**
 * What is wrong with a bot-endpoint request (empty when nothing). Stricter than the real platform on purpose:
 * a client that forgets a header fails loudly here instead of oddly in production.
 */
export function botRequestProblems(headers: Record<string, string>, body: Record<string, unknown> | undefined, rawBody: string): string[] {
  const problems: string[] = [];
  const type = headers['content-type'];
  if (type === undefined) problems.push('missing header Content-Type (must be application/json)');
  else if (!/^application\/json\s*(;|$)/i.test(type)) problems.push(`header Content-Type must be application/json, got "${type}"`);
  const authType = headers['authorizationtype'];
  if (authType === undefined) problems.push('missing header AuthorizationType (must be ilink_bot_token)');
  else if (authType !== 'ilink_bot_token') problems.push(`header AuthorizationType must be ilink_bot_token, got "${authType}"`);
  const auth = headers['authorization'];
  if (auth === undefined) problems.push('missing header Authorization (Bearer <bot_token>)');
  else if (bearerToken(auth) === undefined) problems.push('header Authorization must be "Bearer <bot_token>"');
  const uin = uinProblem(headers['x-wechat-uin']);
  if (uin) problems.push(uin);
  if (rawBody.trim() === '') problems.push('missing JSON body');
  else if (!body) problems.push('body is not a JSON object');
  else if (!isRecord(body.base_info)) problems.push('body has no base_info object');
  return problems;
}

export function bearerToken(auth: string | undefined): string | undefined {
  const m = /^Bearer (\S+)$/.exec(auth ?? '');
  return m?.[1];
}

/** Opaque to clients: base64 of `{"p": <log position>}`. */
export const encodeCursor = (position: number): string => Buffer.from(JSON.stringify({ p: position })).toString('base64');

/** The log position a cursor names, or 0 (replay from the start) when it is empty, unreadable or out of range. */
export function decodeCursor(cursor: string, logLength: number): number {
  if (cursor === '') return 0;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64').toString('utf8'));
    const p = isRecord(value) ? value.p : undefined;
    return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= logLength ? p : 0;
  } catch {
    return 0;
  }
}
