import type { FastifyInstance } from 'fastify';
import type { ChannelRoutesHost } from '../define.js';
import type { FeishuChannel } from './channel.js';

/** Feishu events are a few kilobytes; anything near this is not one. */
export const MAX_BODY_BYTES = 1_048_576;

/** The Request URL to enter in the developer console (事件与回调 → 请求地址): {public_url}/webhooks/feishu/{entry}. */
export function registerFeishuRoutes(app: FastifyInstance, host: ChannelRoutesHost<FeishuChannel>): void {
  app.register(async (scope) => {
    // The signature covers the exact bytes Feishu sent: read the body raw, capped before anything else.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

    scope.post<{ Params: { entryKey: string } }>('/webhooks/feishu/:entryKey', async (request, reply) => {
      const channel = host.lookup(request.params.entryKey);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // Answered only once the message is in the mailbox: Feishu redelivers anything that did not get a 200.
      const answer = await channel.receiveWebhook(body, request.headers);
      return reply.type('application/json; charset=utf-8').send(answer);
    });
  });
}
