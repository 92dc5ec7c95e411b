import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Gateway } from '../../gateway.js';
import { parseInput } from './parse-input.js';

/** One notice as `GET /notices` answers it. */
export type NoticeView = ReturnType<Gateway['notifier']['describe']>;

const noticesQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });

/**
 * `GET /notices`: the latest notices to the team, newest first, with their state, tries and last
 * error. `POST /notices/retry`: the ones waiting for a retry go now (the receiver was mended).
 */
export function registerNoticeRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get('/notices', async (request) => {
    const q = parseInput(noticesQuery, request.query, 'query');
    return { notices: (await gateway.store.listNotices({ limit: q.limit })).map((n) => gateway.notifier.describe(n)) };
  });
  app.post('/notices/retry', async () => ({ retried: await gateway.notifier.retryNow() }));
}
