import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ChannelRoutesHost } from '../define.js';
import type { WechatMpChannel } from './channel.js';
import { MAX_BODY_BYTES } from './parse.js';
import type { WechatQuery } from './verify.js';

/** The server URL to enter in the WeChat console (服务器地址(URL)): {public_url}/webhooks/wechat_mp/{entry}. */
export function registerWechatMpRoutes(app: FastifyInstance, host: ChannelRoutesHost<WechatMpChannel>): void {
  app.register(async (scope) => {
    // WeChat sends XML with varying content types; read every body as text, capped before parsing.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

    scope.get<{ Params: { entryKey: string }; Querystring: WechatQuery }>('/webhooks/wechat_mp/:entryKey', async (request, reply) => {
      const echostr = host.lookup(request.params.entryKey).answerVerification(request.query);
      return reply.type('text/plain').send(echostr);
    });

    scope.post<{ Params: { entryKey: string }; Querystring: WechatQuery }>('/webhooks/wechat_mp/:entryKey', async (request, reply) => {
      const channel = host.lookup(request.params.entryKey);
      const body = typeof request.body === 'string' ? request.body : '';
      // WeChat hangs up after 5 s; a held request must notice, so its answer is not taken for delivered.
      // Made only for requests that are held (most are answered at once).
      const answer = await channel.receive(request.query, body, () => hangUpSignal(reply.raw));
      return reply.type(answer.startsWith('<xml>') ? 'application/xml' : 'text/plain').send(answer);
    });
  });
}

/** Aborts when the client goes away before the answer was written. */
function hangUpSignal(res: ServerResponse): AbortSignal {
  const hungUp = new AbortController();
  if (res.closed) {
    if (!res.writableFinished) hungUp.abort();
  } else {
    res.once('close', () => {
      if (!res.writableFinished) hungUp.abort();
    });
  }
  return hungUp.signal;
}
