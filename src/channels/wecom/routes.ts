import type { FastifyInstance } from 'fastify';
import { MAX_XML_BYTES } from '../shared/tencent-xml.js';
import type { ChannelRoutesHost } from '../define.js';
import type { WecomChannel } from './channel.js';
import type { WecomQuery } from './verify.js';

/** The URL to enter under 接收消息 → 设置API接收: {public_url}/webhooks/wecom/{entry}. */
export function registerWecomRoutes(app: FastifyInstance, host: ChannelRoutesHost<WecomChannel>): void {
  app.register(async (scope) => {
    // WeCom sends XML with varying content types; read every body as text, capped before parsing (413 over it).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_XML_BYTES }, (_req, body, done) => done(null, body));

    scope.get<{ Params: { entryKey: string }; Querystring: WecomQuery }>('/webhooks/wecom/:entryKey', async (request, reply) => {
      const echostr = host.lookup(request.params.entryKey).answerVerification(request.query);
      return reply.type('text/plain').send(echostr);
    });

    scope.post<{ Params: { entryKey: string }; Querystring: WecomQuery }>('/webhooks/wecom/:entryKey', async (request, reply) => {
      const channel = host.lookup(request.params.entryKey);
      await channel.receive(request.query, typeof request.body === 'string' ? request.body : '');
      // An empty 200: received, no passive reply (replies go through message/send).
      return reply.type('text/plain').send('');
    });
  });
}
