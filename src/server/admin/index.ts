import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../../gateway.js';
import { actorOf, authorizeAdmin, type PanelSessions } from '../session.js';
import { registerChatRoutes } from './chat.js';
import { registerConversationRoutes } from './conversation.js';
import { registerDashboardRoutes } from './dashboard.js';
import { registerEntryRoutes } from './entries.js';
import { registerExportRoutes } from './export.js';
import { registerHandoffRoutes } from './handoffs.js';
import { registerLoginRoutes } from './logins.js';
import { registerMessageRoutes } from './messages.js';
import { registerNoticeRoutes } from './notices.js';
import { registerPairingRoutes } from './pairing.js';
import { registerStatsRoutes } from './stats.js';
import { registerTargetRoutes } from './targets.js';
import { registerUserRoutes } from './users.js';

/** `/api/admin/*`: bearer admin token (or an operator's) or a panel session (+ CSRF token for writes); secrets are masked in every answer. */
export async function registerAdminApi(app: FastifyInstance, opts: { gateway: Gateway; sessions: PanelSessions }): Promise<void> {
  const { gateway, sessions } = opts;
  app.addHook('onRequest', async (request) => authorizeAdmin(sessions, gateway.adminToken, () => gateway.operators, request));
  // An audit line for every change asked of the admin API, refused ones too: who, what, how it ended (no bodies: they may hold secrets).
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode === 401) return;
    gateway.log.info({ actor: actorOf(request), method: request.method, route: request.routeOptions.url, params: request.params, status: reply.statusCode }, 'admin API change');
  });
  registerTargetRoutes(app, gateway);
  registerEntryRoutes(app, gateway);
  registerHandoffRoutes(app, gateway);
  registerConversationRoutes(app, gateway);
  registerUserRoutes(app, gateway);
  registerPairingRoutes(app, gateway);
  registerLoginRoutes(app, gateway);
  registerExportRoutes(app, gateway);
  registerMessageRoutes(app, gateway);
  registerDashboardRoutes(app, gateway);
  registerStatsRoutes(app, gateway);
  registerNoticeRoutes(app, gateway);
  registerChatRoutes(app, gateway);
  app.get('/workspace/problems', async () => ({ problems: gateway.snapshot.problems }));
}
