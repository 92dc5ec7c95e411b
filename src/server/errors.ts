import type { FastifyError, FastifyInstance } from 'fastify';
import { CocoError, describeError, isCocoError, type ErrorCode } from '../core/errors.js';

/** Every error answer has the same shape: { error: { code, message, field? } }. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | CocoError | Error, request, reply) => {
    if (isCocoError(err)) {
      const status = err.statusCode ?? 500;
      if (err.retryAfterMs !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', Math.ceil(err.retryAfterMs / 1000));
      if (status >= 500) request.log.error({ code: err.code, err: err.message, ...(err.cause ? { cause: describeError(err.cause) } : {}) }, 'request failed');
      return reply.code(status).send({ error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } });
    }
    const fastifyError = err as FastifyError;
    const status = fastifyError.statusCode ?? 500;
    if (status < 500) {
      const code: ErrorCode = status === 413 ? 'COCO_ERR_REQUEST_TOO_LARGE' : 'COCO_ERR_REQUEST_INVALID';
      const field = fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body' : undefined;
      return reply.code(status).send({ error: { code, message: fastifyError.message, ...(field ? { field } : {}) } });
    }
    request.log.error({ err: err.message }, 'unexpected error');
    return reply.code(500).send({ error: { code: 'COCO_ERR_INTERNAL', message: 'internal error; see the gateway log' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'COCO_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );
}
