import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isTimeZone } from '../../core/business-hours.js';
import type { Gateway } from '../../gateway.js';
import { DailyCounts, MAX_DAYS } from '../../ops/daily-counts.js';
import { parseInput } from './parse-input.js';

const daysQuery = z.object({
  days: z.coerce.number().int().min(1).max(MAX_DAYS).default(7),
  timezone: z.string().refine(isTimeZone, { message: 'must be an IANA time zone, e.g. Asia/Shanghai' }).default('UTC'),
  entry: z.string().min(1).max(200).optional(),
});

/** `GET /stats/days`: messages per day in a time zone (ops/daily-counts.ts), for the dashboard and `cococat stats`. */
export function registerStatsRoutes(app: FastifyInstance, gateway: Gateway): void {
  const counts = new DailyCounts(gateway.store);
  app.get('/stats/days', async (request) => {
    const q = parseInput(daysQuery, request.query, 'query');
    const days = await counts.days({ timeZone: q.timezone, days: q.days, now: gateway.clock.now(), ...(q.entry ? { entryKey: q.entry } : {}) });
    // Older days than this are incomplete: finished messages are pruned after the dedup retention.
    return { timezone: q.timezone, retentionHours: gateway.snapshot.settings.limits.dedup_retention_hours, days };
  });
}
