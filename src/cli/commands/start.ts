import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createDemoWorkspace } from '../../config/demo-workspace.js';
import { formatProblem, SETTINGS_FILE } from '../../config/workspace.js';
import { createLogger } from '../../core/logger.js';
import { Gateway } from '../../gateway.js';
import { buildServer } from '../../server/build-server.js';
import { printDemoCredentials } from './init.js';

export interface StartOptions {
  workspace: string;
  port?: number;
  host?: string;
  env: Record<string, string | undefined>;
}

/** Runs the gateway until SIGINT/SIGTERM; creates the demo workspace on first run. */
export async function startCommand(opts: StartOptions): Promise<void> {
  const startedAt = performance.now();
  const root = resolve(opts.workspace);
  let demo: ReturnType<typeof createDemoWorkspace> | undefined;
  if (!existsSync(root) || readdirSync(root).length === 0) demo = createDemoWorkspace(root, opts.env);

  const pretty = process.stdout.isTTY && opts.env.COCOCAT_LOG_FORMAT !== 'json';
  const gateway = await Gateway.open({ workspace: root, env: opts.env, log: createLogger({ level: opts.env.COCOCAT_LOG_LEVEL, pretty }) });
  const log = gateway.log;
  const settingsProblems = gateway.snapshot.problems.filter((p) => p.file === SETTINGS_FILE);
  if (settingsProblems.length > 0) {
    await gateway.close();
    // Port, admin token and store come from this file: starting on defaults would hide the mistake.
    throw new Error(`${SETTINGS_FILE} is invalid; fix it and start again:\n${settingsProblems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  }
  const port = opts.port ?? (opts.env.PORT ? Number(opts.env.PORT) : gateway.snapshot.settings.server.port);
  if (demo) printDemoCredentials(demo.entryKey, demo.apiKey, gateway.adminToken.generated, demo.provider, port);
  else if (gateway.adminToken.generated) console.log(`\nAdmin token (shown once, keep it): ${gateway.adminToken.generated}\n`);

  const app = await buildServer(gateway);
  const host = opts.host ?? gateway.snapshot.settings.server.host;
  gateway.start();
  const address = await app.listen({ port, host });
  log.info({ address, workspace: root, readyMs: Math.round(performance.now() - startedAt) }, `CocoCat ready on ${address}; web panel at ${address}/`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await app.close();
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
