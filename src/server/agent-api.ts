import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CocoError } from '../core/errors.js';
import { SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER } from '../core/signature.js';
import type { Gateway } from '../gateway.js';
import { parseInput } from './admin/parse-input.js';
import { answeringTarget, idempotencyKeyOf, lateReplyBody, messageOr404, queueLateReply } from './late-replies.js';

/**
 * The API an `http` agent service calls back: `POST /api/v1/agents/{agentId}/messages/{messageId}/replies`,
 * a later reply to a message the agent answered (the result of a long task, a reminder), signed with
 * the agent's `secret` the way CocoCat signs its requests to the service (X-CocoCat-Timestamp and
 * X-CocoCat-Signature over the raw body). Nothing else is reachable with that secret.
 */

/** A signed request older or newer than this is refused: a captured one cannot be replayed later. */
export const SIGNATURE_TOLERANCE_S = 300;
/** A body with a few images (base64) fits; the admin API's operator replies take the same. */
const MAX_BODY_BYTES = 1_048_576;

export function registerAgentApi(app: FastifyInstance, gateway: Gateway): void {
  app.register(async (scope) => {
    // The raw bytes are what was signed: read them as they came, parse after the signature holds.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

    scope.post<{ Params: { agentId: string; messageId: string } }>('/api/v1/agents/:agentId/messages/:messageId/replies', async (request, reply) => {
      const { agentId, messageId } = request.params;
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // An unsigned request learns nothing, not even whether the agent exists.
      signedHeaders(request);
      verifySignature(request, raw, secretOf(gateway, agentId), gateway.clock.now());
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new CocoError('COCO_ERR_REQUEST_INVALID', 'body: is not valid JSON', { statusCode: 400, field: 'body' });
      }
      const body = parseInput(lateReplyBody, json, 'body');
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key']);
      const detail = await messageOr404(gateway, messageId);
      // Only the messages this agent answers: a secret never reaches another agent's conversations.
      if (answeringTarget(gateway, detail)?.agentId !== agentId) {
        throw new CocoError('COCO_ERR_NOT_FOUND', `message "${messageId}" is not one agent "${agentId}" answers`, { statusCode: 404 });
      }
      return reply.code(202).send(await queueLateReply(gateway, detail, body, 'agent', idempotencyKey));
    });
  });
}

/** The agent's resolved `secret`: 404 for no such agent, 403 for one that cannot sign (not `http`, or no secret). */
function secretOf(gateway: Gateway, agentId: string): string {
  let profile;
  try {
    profile = gateway.resolveTarget('agent', agentId).profile;
  } catch {
    throw new CocoError('COCO_ERR_NOT_FOUND', `agent "${agentId}" does not exist`, { statusCode: 404 });
  }
  if (profile.provider !== 'http' || !profile.secret) {
    throw new CocoError('COCO_ERR_FORBIDDEN', `agent "${agentId}" takes no later replies: only an http agent with a secret does (the requests are signed with it)`, { statusCode: 403 });
  }
  return profile.secret;
}

/** The two signature headers, present and well formed. */
function signedHeaders(request: FastifyRequest): { timestamp: string; signature: string } {
  const timestamp = request.headers[TIMESTAMP_HEADER];
  const signature = request.headers[SIGNATURE_HEADER];
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) throw unauthorized(`${TIMESTAMP_HEADER}: unix seconds are required`);
  if (typeof signature !== 'string' || !/^sha256=[0-9a-f]{64}$/.test(signature)) {
    throw unauthorized(`${SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)> is required`);
  }
  return { timestamp, signature };
}

/** X-CocoCat-Timestamp within SIGNATURE_TOLERANCE_S of now, and X-CocoCat-Signature over it and the raw body. */
function verifySignature(request: FastifyRequest, raw: Buffer, secret: string, nowMs: number): void {
  const { timestamp, signature } = signedHeaders(request);
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_S) throw unauthorized(`${TIMESTAMP_HEADER}: more than ${SIGNATURE_TOLERANCE_S} s from the gateway's clock`);
  const expected = Buffer.from(signBody(secret, timestamp, raw));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized(`${SIGNATURE_HEADER}: does not match the body signed with the agent's secret`);
}

function unauthorized(why: string): CocoError {
  return new CocoError('COCO_ERR_UNAUTHORIZED', why, { statusCode: 401 });
}
