import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../../gateway.js';
import { authorizeAdmin, type PanelSessions } from '../session.js';
import { registerChatRoutes } from './chat.js';
import { registerConversationRoutes } from './conversation.js';
import { registerDashboardRoutes } from './dashboard.js';
import { registerEntryRoutes } from './entries.js';
import { registerExportRoutes } from './export.js';
import { registerHandoffRoutes } from './handoffs.js';
import { registerLoginRoutes } from './logins.js';
import { registerMessageRoutes } from './messages.js';
import { registerPairingRoutes } from './pairing.js';
import { registerTargetRoutes } from './targets.js';
import { registerUserRoutes } from './users.js';

/** `/api/admin/*`: bearer admin token (or an operator's) or a panel session (+ CSRF token for writes); secrets are masked in every answer. */
export async function registerAdminApi(app: FastifyInstance, opts: { gateway: Gateway; sessions: PanelSessions }): Promise<void> {
  const { gateway, sessions } = opts;
  app.addHook('onRequest', async (request) => authorizeAdmin(sessions, gateway.adminToken, () => gateway.operators, request));
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
  registerChatRoutes(app, gateway);
  app.get('/workspace/problems', async () => ({ problems: gateway.snapshot.problems }));
}
