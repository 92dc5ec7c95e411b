import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from './atomic-write.js';
import { newToken } from './admin-token.js';
import { SecretVault } from './secrets.js';
import { writeEntries } from './workspace-writer.js';

export interface DemoWorkspace {
  root: string;
  /** The demo web_api entry's key and its API key (shown once). */
  entryKey: string;
  apiKey: string;
  provider: 'echo' | 'openai';
}

/**
 * Creates the demo workspace: agent `assistant` (echo offline; openai when OPENAI_API_KEY is set)
 * fed by one web_api entry, and a `helpdesk` scene led by it. Refuses a non-empty folder.
 */
export function createDemoWorkspace(root: string, env: Record<string, string | undefined>): DemoWorkspace {
  if (existsSync(root) && readdirSync(root).length > 0) {
    throw new Error(`${root} is not empty; choose a new folder for the workspace`);
  }
  mkdirSync(join(root, 'data'), { recursive: true, mode: 0o700 });
  const vault = new SecretVault(root);
  const apiKey = newToken('cc_web');
  const provider = env.OPENAI_API_KEY ? 'openai' : 'echo';

  writeFileAtomic(
    join(root, 'cococat.yaml'),
    [
      '# CocoCat gateway settings. Every field is optional; see the README for the full reference.',
      stringify({ server: { port: 8787, host: '127.0.0.1' }, store: { url: 'sqlite:data/cococat.db' }, limits: { concurrency: 16 } }),
    ].join('\n'),
  );
  const profile =
    provider === 'openai'
      ? { name: 'Assistant', provider, model: env.OPENAI_MODEL ?? 'gpt-4o-mini', api_key: '${OPENAI_API_KEY}', system_prompt: 'You are a helpful assistant. Answer briefly.', history_window: 20 }
      : { name: 'Assistant', provider, prefix: '', history_window: 20 };
  writeFileAtomic(join(root, 'agents', 'assistant', 'profile.yaml'), stringify(profile));
  const keyRef = vault.put('assistant.web_api.api_key', apiKey);
  writeEntries(join(root, 'agents', 'assistant', 'entries.json'), [
    { type: 'channel', channel: 'web_api', enabled: true, config: { api_key: keyRef } },
  ]);
  writeFileAtomic(
    join(root, 'scenes', 'helpdesk', 'scene.yaml'),
    stringify({ name: 'Help desk', roster: ['assistant'], context: 'You answer questions from customers of the help desk.' }),
  );
  writeEntries(join(root, 'scenes', 'helpdesk', 'entries.json'), []);
  writeFileAtomic(join(root, '.gitignore'), 'data/\n');
  return { root, entryKey: 'assistant.web_api', apiKey, provider };
}
