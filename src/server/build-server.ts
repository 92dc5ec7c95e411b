import fastifyCookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Channel } from '../core/channel.js';
import { lazyChild, type Logger } from '../core/logger.js';
import type { Gateway } from '../gateway.js';
import { registerAdminApi } from './admin/index.js';
import { registerAgentApi } from './agent-api.js';
import { installErrorHandler } from './errors.js';
import { registerPanel } from './panel.js';
import { PanelSessions, registerSessionRoutes } from './session.js';

export interface BuildServerOptions {
  /** Fastify's logger; the gateway's pino logger by default. */
  logger?: boolean;
}

/**
 * Builds the HTTP app in front of a gateway without listening, so tests use `inject()`.
 * Only `cococat start` calls `listen()`.
 */
export async function buildServer(gateway: Gateway, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger === false ? undefined : gateway.log,
    // Request lines would drown the message logs; each message is logged with its entry and id instead.
    logController: new LogController({ disableRequestLogging: true }),
    // request.log is made on first use: most requests never log, and a pino child costs per request.
    ...(opts.logger === false ? {} : { childLoggerFactory: (logger: unknown, bindings: Record<string, unknown>) => lazyChild(logger as Logger, bindings) }),
    bodyLimit: 1_048_576,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  installErrorHandler(app);

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    const entries = gateway.keeper.status();
    const count = (state: string) => entries.filter((e) => e.state === state).length;
    const body = { ready: gateway.isReady, entries: { running: count('running'), starting: count('starting'), error: count('error'), stopped: count('stopped') } };
    return reply.code(gateway.isReady ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', gateway.metrics.registry.contentType);
    return gateway.metrics.registry.metrics();
  });

  for (const def of gateway.registry.all()) {
    def.routes?.(app, { lookup: (key: string): Channel => gateway.keeper.lookup(key, def.type) });
  }
  registerAgentApi(app, gateway);
  // Cookies, sessions and the panel's headers live in their own scopes: the channel routes (the
  // hot path) run no cookie parsing and no extra hooks.
  await app.register(async (scope) => {
    await scope.register(fastifyCookie);
    const operators = () => gateway.operators;
    const sessions = new PanelSessions(gateway.adminToken, operators);
    registerSessionRoutes(scope, sessions, gateway.adminToken, operators);
    await scope.register(registerAdminApi, { prefix: '/api/admin', gateway, sessions });
  });
  await app.register(async (scope) => registerPanel(scope));
  return app;
}
