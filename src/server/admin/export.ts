import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Gateway } from '../../gateway.js';
import type { MessageDetail } from '../../store/store.js';
import { replyAuthor } from '../late-replies.js';
import { forDisplay, logFilterQuery, logPage, storeFilterOf } from './messages.js';
import { parseInput } from './parse-input.js';

/**
 * `GET /messages/export`: the message log as JSON Lines, one message a line with the replies that
 * went out for it, newest first, for reading conversations back (what users ask, how they were
 * answered) outside the panel. Streamed page by page from the store, so a long export holds one
 * page at a time. Media and images show as in `GET /messages/{id}`: never their bytes or keys.
 */

const PAGE = 500;
/** Clocks of processes sharing a store differ a little: the scan for `since` goes this far past it before it stops. */
const CLOCK_SLACK_MS = 60_000;

/** An ISO 8601 time or epoch milliseconds. */
const time = z.union([z.string().regex(/^\d{1,15}$/).transform(Number), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))], {
  error: 'must be an ISO 8601 time (2026-12-07T09:00:00Z) or epoch milliseconds',
});

const exportQuery = z.object({
  ...logFilterQuery,
  since: time.optional(),
  until: time.optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(10_000),
});

type ExportQuery = z.infer<typeof exportQuery>;

export function registerExportRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get('/messages/export', async (request, reply) => {
    const q = parseInput(exportQuery, request.query, 'query');
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', 'attachment; filename="cococat-messages.jsonl"')
      .send(Readable.from(exportLines(gateway, q)));
  });
}

async function* exportLines(gateway: Gateway, q: ExportQuery): AsyncGenerator<string> {
  let before: string | undefined;
  let left = q.limit;
  const filter = storeFilterOf(q);
  for (;;) {
    // A search goes window by window (logPage): each read is bounded, and the stream's writes come between.
    const page = await logPage(gateway.store, filter, before, Math.min(PAGE, left));
    for (const summary of page.messages) {
      if (q.until !== undefined && summary.createdAt >= q.until) continue;
      if (q.since !== undefined && summary.createdAt < q.since) {
        if (summary.createdAt < q.since - CLOCK_SLACK_MS) return; // ids grow with time: all older from here
        continue;
      }
      const detail = await gateway.store.getMessage(summary.id);
      if (!detail) continue; // pruned meanwhile
      yield `${JSON.stringify(exportRecord(detail))}\n`;
      if (--left === 0) return;
    }
    if (page.next === null) return;
    before = page.next;
  }
}

/** One line of the export: the message and what went out for it, by whom. */
function exportRecord(detail: MessageDetail) {
  const shown = forDisplay(detail);
  const m = shown.message;
  const outcome = shown.timeline.find((e) => e.stage === 'replied' || e.stage === 'fallback')?.detail;
  return {
    id: shown.id,
    entryKey: shown.entryKey,
    channelType: shown.channelType,
    target: { kind: shown.targetKind, id: shown.targetId },
    userId: shown.userId,
    conversationId: shown.conversationId,
    isGroup: m.isGroup,
    msgType: m.msgType,
    content: shown.content,
    ...(m.media?.length ? { media: m.media } : {}),
    status: shown.status,
    createdAt: shown.createdAt,
    ...(outcome === undefined ? {} : { outcome }),
    replies: shown.replies.map((r) => ({
      by: replyAuthor(r.idempotencyKey),
      text: r.text,
      format: r.format,
      ...(r.image ? { image: r.image } : {}),
      status: r.status,
      ...(r.sentAt === undefined ? {} : { sentAt: r.sentAt }),
    })),
  };
}
