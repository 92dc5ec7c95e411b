import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type {} from '@fastify/cookie';
import type { AdminTokenSource, Operator, OperatorTokens } from '../config/admin-token.js';
import type { OperatorPermission } from '../config/schema.js';
import { CocoError } from '../core/errors.js';

export const SESSION_COOKIE = 'cococat_session';
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Failed logins per client address per minute before answering 429. */
const MAX_FAILURES_PER_MINUTE = 10;

const loginBody = z.object({ token: z.string().min(1).max(512) }).strict();

interface SessionClaims {
  /** Expiry, epoch ms. */
  exp: number;
  /** Random id: names the session for logout and derives its CSRF token. */
  sid: string;
  /** An operator's session: the fingerprint of the token it logged in with. None: the admin's. */
  op?: string;
}

export interface PanelSession extends SessionClaims {
  csrfToken: string;
}

/** The admin changes anything; an operator reads and answers people (OPERATOR_WRITES). */
export type AdminRole = 'admin' | 'operator';

const roleOf = (s: SessionClaims): AdminRole => (s.op === undefined ? 'admin' : 'operator');

/**
 * Panel sessions: after a login with the admin token, an HttpOnly, SameSite=Strict cookie holds
 * `claims.signature` (HMAC-SHA256 under a key derived from the admin token), so no session table
 * is needed and a restart keeps people logged in. The cookie alone only reads: every write also
 * needs the session's CSRF token in `X-CSRF-Token`, which the panel gets from the login answer
 * and a page on another site cannot read.
 */
export class PanelSessions {
  /** Logged-out session ids until they would have expired anyway. */
  private readonly revoked = new Map<string, number>();
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly token: AdminTokenSource,
    /** The operators' tokens as configured now: a session of one taken off the list ends. */
    private readonly operators: () => OperatorTokens,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session: the admin's, or with `operator` (a token's fingerprint) an operator's. */
  create(operator?: string): { cookie: string; session: PanelSession } {
    const claims: SessionClaims = { exp: this.now() + SESSION_TTL_MS, sid: randomBytes(16).toString('base64url'), ...(operator ? { op: operator } : {}) };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { cookie: `${payload}.${this.sign(payload)}`, session: this.withCsrf(claims) };
  }

  /** The session a cookie value stands for, or undefined when absent, forged, expired or logged out. */
  read(cookie: string | undefined): PanelSession | undefined {
    if (!cookie) return undefined;
    const dot = cookie.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = cookie.slice(0, dot);
    if (!safeEqual(cookie.slice(dot + 1), this.sign(payload))) return undefined;
    let claims: SessionClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.exp !== 'number' || typeof claims.sid !== 'string' || claims.exp <= this.now()) return undefined;
    if (this.revoked.has(claims.sid)) return undefined;
    if (claims.op !== undefined && (typeof claims.op !== 'string' || !this.operators().byFingerprint(claims.op))) return undefined;
    return this.withCsrf(claims);
  }

  revoke(session: SessionClaims): void {
    const now = this.now();
    for (const [sid, exp] of this.revoked) if (exp <= now) this.revoked.delete(sid);
    this.revoked.set(session.sid, session.exp);
  }

  csrfMatches(session: PanelSession, presented: string | undefined): boolean {
    return presented !== undefined && safeEqual(presented, session.csrfToken);
  }

  /** Counts a failed login from one address, per one-minute window (`lockedFor` tells the wait). */
  recordFailure(client: string): void {
    const now = this.now();
    const f = this.failures.get(client);
    if (!f || now - f.windowStart >= 60_000) this.failures.set(client, { count: 1, windowStart: now });
    else f.count++;
    if (this.failures.size > 10_000) this.failures.clear();
  }

  /** Milliseconds until this client may try again, or 0. */
  lockedFor(client: string): number {
    const f = this.failures.get(client);
    if (!f || f.count < MAX_FAILURES_PER_MINUTE) return 0;
    return Math.max(0, f.windowStart + 60_000 - this.now());
  }

  private withCsrf(claims: SessionClaims): PanelSession {
    return { ...claims, csrfToken: this.sign(`csrf:${claims.sid}`) };
  }

  private sign(value: string): string {
    return createHmac('sha256', this.token.sessionKey).update(value).digest('base64url');
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieOptions(request: FastifyRequest, maxAgeMs: number) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: request.protocol === 'https',
    maxAge: Math.max(0, Math.floor(maxAgeMs / 1000)),
  };
}

/** A session as the panel reads it: with an operator's permissions, so it offers only what they may do. */
const present = (s: PanelSession, operators: () => OperatorTokens) => {
  const can = s.op === undefined ? undefined : operators().byFingerprint(s.op)?.can;
  return { csrfToken: s.csrfToken, expiresAt: s.exp, role: roleOf(s), ...(can ? { can: [...can] } : {}) };
};

/** `POST /api/session` (log in with the admin token or an operator's), `GET` (who am I), `DELETE` (log out). */
export function registerSessionRoutes(app: FastifyInstance, sessions: PanelSessions, token: AdminTokenSource, operators: () => OperatorTokens): void {
  app.post('/api/session', async (request, reply) => {
    const wait = sessions.lockedFor(request.ip);
    if (wait > 0) {
      throw new CocoError('COCO_ERR_RATE_LIMITED', 'too many failed logins from this address; wait a minute', { statusCode: 429, retryAfterMs: wait });
    }
    const body = loginBody.safeParse(request.body ?? {});
    if (!body.success) throw new CocoError('COCO_ERR_REQUEST_INVALID', 'token: send {"token": "<admin token>"}', { statusCode: 400, field: 'token' });
    const admin = token.verify(body.data.token);
    const operator = admin ? undefined : operators().verify(body.data.token);
    if (!admin && !operator) {
      sessions.recordFailure(request.ip);
      request.log.warn({ ip: request.ip }, 'panel login refused: wrong admin token');
      throw new CocoError('COCO_ERR_UNAUTHORIZED', 'wrong admin token', { statusCode: 401, field: 'token' });
    }
    if (operator) request.log.info({ ip: request.ip, operator: operator.name ?? operator.fingerprint }, 'operator logged in to the panel');
    const { cookie, session } = sessions.create(operator?.fingerprint);
    reply.setCookie(SESSION_COOKIE, cookie, cookieOptions(request, session.exp - Date.now()));
    return present(session, operators);
  });

  app.get('/api/session', async (request) => {
    const session = sessions.read(request.cookies[SESSION_COOKIE]);
    if (!session) throw new CocoError('COCO_ERR_UNAUTHORIZED', 'not logged in', { statusCode: 401 });
    return present(session, operators);
  });

  app.delete('/api/session', async (request, reply) => {
    const session = sessions.read(request.cookies[SESSION_COOKIE]);
    if (session) {
      assertCsrf(sessions, session, request);
      sessions.revoke(session);
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
}

export function assertCsrf(sessions: PanelSessions, session: PanelSession, request: FastifyRequest): void {
  const header = request.headers['x-csrf-token'];
  if (!sessions.csrfMatches(session, Array.isArray(header) ? header[0] : header)) {
    throw new CocoError('COCO_ERR_FORBIDDEN', 'X-CSRF-Token is missing or does not match this session; reload the panel', { statusCode: 403 });
  }
}

/**
 * What an operator may change (method and route), and the permission (`can`) each needs: answering
 * people, not the setup. Every read is theirs too (secrets are masked for everyone).
 */
const OPERATOR_WRITES = new Map<string, OperatorPermission>([
  ['POST /api/admin/chat/:key', 'chat'],
  ['POST /api/admin/messages/:id/reply', 'reply'],
  ['POST /api/admin/messages/:id/block-sender', 'senders'],
  ['POST /api/admin/messages/:id/allow-sender', 'senders'],
  ['PUT /api/admin/entries/:key/handoffs/:conversationId', 'handoff'],
  ['DELETE /api/admin/entries/:key/handoffs/:conversationId', 'handoff'],
  ['POST /api/admin/pairing/:code/approve', 'pairing'],
  ['DELETE /api/admin/pairing/:code', 'pairing'],
  ['POST /api/admin/dead-letters/:kind/:id/retry', 'retry'],
  ['POST /api/admin/notices/retry', 'retry'],
]);

/** What each permission lets an operator do, for the refusal. */
const PERMISSION_TEXT: Record<OperatorPermission, string> = {
  reply: 'reply to messages by hand',
  handoff: 'hand conversations over or back',
  pairing: 'approve or reject pairing codes',
  senders: 'block or allow senders',
  retry: 'retry dead letters or notices',
  chat: 'use the test chat',
};

/**
 * The admin API's gate: a bearer admin token (scripts) or an operator's, or a panel session
 * cookie; with the cookie, anything but a read also needs the CSRF token. An operator changes only
 * what OPERATOR_WRITES lists, and of that only what their `can` allows.
 */
export function authorizeAdmin(sessions: PanelSessions, token: AdminTokenSource, operators: () => OperatorTokens, request: FastifyRequest): void {
  const operator = operatorOfRequest(sessions, token, operators, request);
  if (operator) actors.set(request, `operator ${operator.name ?? operator.fingerprint}`);
  if (!operator || request.method === 'GET' || request.method === 'HEAD') return;
  const needs = OPERATOR_WRITES.get(`${request.method} ${request.routeOptions.url ?? ''}`);
  if (!needs) {
    throw new CocoError('COCO_ERR_FORBIDDEN', 'operators read and answer people; changing agents, scenes, entries or settings needs the admin token', { statusCode: 403 });
  }
  if (!operator.can.has(needs)) {
    const allowed = [...operator.can].join(', ') || 'nothing but reading';
    throw new CocoError('COCO_ERR_FORBIDDEN', `operator ${operator.name ?? operator.fingerprint} may not ${PERMISSION_TEXT[needs]} (their can: ${allowed})`, { statusCode: 403 });
  }
}

/** Who made an admin API request, for the message log: `admin`, or `operator <name>` (its token's fingerprint without a name). */
export function actorOf(request: FastifyRequest): string {
  return actors.get(request) ?? 'admin';
}

const actors = new WeakMap<FastifyRequest, string>();

/** The operator who sent the request; undefined for the admin. Throws 401 for anyone else. */
function operatorOfRequest(sessions: PanelSessions, token: AdminTokenSource, operators: () => OperatorTokens, request: FastifyRequest): Operator | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (token.verify(bearer)) return undefined;
    const operator = operators().verify(bearer);
    if (operator) return operator;
    throw new CocoError('COCO_ERR_UNAUTHORIZED', 'missing or wrong admin token: send "Authorization: Bearer <admin token>"', { statusCode: 401 });
  }
  const session = sessions.read(request.cookies[SESSION_COOKIE]);
  if (!session) {
    throw new CocoError('COCO_ERR_UNAUTHORIZED', 'missing or wrong admin token: send "Authorization: Bearer <admin token>" or log in to the panel', {
      statusCode: 401,
    });
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') assertCsrf(sessions, session, request);
  if (session.op === undefined) return undefined;
  // sessions.read checked the token is still listed; an operator's session never passes for the admin's.
  const operator = operators().byFingerprint(session.op);
  if (!operator) throw new CocoError('COCO_ERR_UNAUTHORIZED', 'this operator token is no longer accepted; log in again', { statusCode: 401 });
  return operator;
}
