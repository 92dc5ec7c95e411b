import { resolve } from 'node:path';
import { loadAdminToken } from '../../config/admin-token.js';
import { createDemoWorkspace } from '../../config/demo-workspace.js';

export function initCommand(dir: string, env: Record<string, string | undefined>): void {
  const root = resolve(dir);
  const demo = createDemoWorkspace(root, env);
  const admin = loadAdminToken(root, env.COCOCAT_ADMIN_TOKEN);
  printDemoCredentials(demo.entryKey, demo.apiKey, admin.generated, demo.provider);
  console.log(`Workspace created in ${root}`);
}

export function printDemoCredentials(entryKey: string, apiKey: string, adminToken: string | undefined, provider: string, port = 8787): void {
  const lines = [
    '',
    'CocoCat demo workspace — these are shown once; keep them:',
    adminToken ? `  admin token:        ${adminToken}` : '  admin token:        (from COCOCAT_ADMIN_TOKEN or cococat.yaml)',
    `  web_api entry:      ${entryKey}  (agent "assistant", provider ${provider})`,
    `  web_api API key:    ${apiKey}`,
    '',
    `Web panel: http://127.0.0.1:${port}/  (log in with the admin token)`,
    '',
    'Talk to the agent:',
    `  curl -s -X POST 'http://127.0.0.1:${port}/api/v1/chat/${entryKey}?wait=true' \\`,
    `    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\`,
    `    -d '{"userId":"alice","content":"hello"}'`,
    `  or: npm run cococat -- send ${entryKey} "hello"`,
    '',
  ];
  console.log(lines.join('\n'));
}
