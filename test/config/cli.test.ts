import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadAdminToken } from '../../src/config/admin-token.js';
import { startTestGateway } from '../helpers/gateway.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace, webApiEntry } from '../helpers/workspace.js';

let logSpy: MockInstance<typeof console.log>;
let errorSpy: MockInstance<typeof console.error>;
const dirs = tempDirs();

beforeEach(() => {
  logSpy = vi.spyOn(console, 'log').mockImplementation(() => {});
  errorSpy = vi.spyOn(console, 'error').mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

const out = () => logSpy.mock.calls.map((c) => c.join(' ')).join('\n');
const err = () => errorSpy.mock.calls.map((c) => c.join(' ')).join('\n');

const tempDir = () => dirs.make('cococat-cli-');

async function init(env: Record<string, string> = {}): Promise<{ root: string; adminToken?: string; apiKey: string }> {
  const root = join(tempDir(), 'ws');
  expect(await main(['init', root], env)).toBe(0);
  const text = out();
  const apiKey = /web_api API key:\s+(\S+)/.exec(text)?.[1];
  expect(apiKey).toBeDefined();
  return { root, adminToken: /admin token:\s+(cc_admin_\S+)/.exec(text)?.[1], apiKey: apiKey! };
}

describe('cococat init', () => {
  it('creates the demo workspace and prints an admin token and an API key that work', async () => {
    const { root, adminToken, apiKey } = await init();
    expect(adminToken).toMatch(/^cc_admin_[A-Za-z0-9_-]{20,}$/);
    expect(apiKey).toMatch(/^cc_web_[A-Za-z0-9_-]{20,}$/);
    expect(out()).toContain(`Workspace created in ${root}`);
    expect(out()).toContain('assistant.web_api');
    for (const file of ['cococat.yaml', 'agents/assistant/profile.yaml', 'agents/assistant/entries.json', 'scenes/helpdesk/scene.yaml', 'data/secrets.json']) {
      expect(existsSync(join(root, file)), file).toBe(true);
    }
    // Only the token's hash is kept, and it matches the printed token.
    const stored = readFileSync(join(root, 'data', 'admin-token.sha256'), 'utf8').trim();
    expect(stored).toBe(createHash('sha256').update(adminToken!).digest('hex'));
    expect(loadAdminToken(root, undefined).verify(adminToken)).toBe(true);
    expect(loadAdminToken(root, undefined).verify(`${adminToken}x`)).toBe(false);
    for (const file of ['cococat.yaml', 'agents/assistant/entries.json', 'data/admin-token.sha256']) {
      expect(readFileSync(join(root, file), 'utf8')).not.toContain(apiKey);
    }

    // The printed API key talks to the demo agent.
    const t = await startTestGateway({ root });
    try {
      await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
      const res = await t.chat('assistant.web_api', { userId: 'alice', content: 'hello' }, { wait: true, key: apiKey });
      expect(res.status).toBe(200);
      expect(res.json.reply.text).toContain('hello');
    } finally {
      await t.close();
    }
  });

  it('with COCOCAT_ADMIN_TOKEN set, generates no admin token', async () => {
    const { root, adminToken } = await init({ COCOCAT_ADMIN_TOKEN: 'configured-admin-token-0123456789' });
    expect(adminToken).toBeUndefined();
    expect(out()).toContain('(from COCOCAT_ADMIN_TOKEN or cococat.yaml)');
    expect(existsSync(join(root, 'data', 'admin-token.sha256'))).toBe(false);
  });

  it('fails on a non-empty folder and leaves it alone', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    await expect(main(['init', dir], {})).rejects.toThrow(/not empty/);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    expect(out()).not.toMatch(/admin token|API key/);
  });

  it('without a folder prints its usage and exits 2', async () => {
    expect(await main(['init'], {})).toBe(2);
    expect(err()).toContain('usage: cococat init DIR');
  });
});

describe('cococat check', () => {
  it('exits 0 on the demo workspace', async () => {
    const { root } = await init();
    logSpy.mockClear();
    expect(await main(['check', root], {})).toBe(0);
    expect(out()).toContain(`✓ ${root}: 1 agent(s), 1 scene(s), 1 entry; no problems`);
    expect(err()).toBe('');
    expect(await main(['check', '--workspace', root], {})).toBe(0);
  });

  it('exits 1 on a broken workspace and prints every problem with file and field', async () => {
    const root = makeWorkspace({
      settings: { colour: 'blue' },
      agents: {
        a: { profile: { provider: 'echo', history_window: -1 } },
        b: { profile: { provider: 'echo' }, entries: [webApiEntry({}, 'ok'), { channel: 'web_api', config: { api_key: 'short' } }] },
        c: { profile: { provider: 'openai', model: 'm', api_key: '${CLI_TEST_UNSET_KEY}' } },
      },
      scenes: { s: { scene: { roster: ['b', 'ghost'] } } },
    });
    dirs.track(root);
    expect(await main(['check', root], {})).toBe(1);
    const lines = errorSpy.mock.calls.map((c) => String(c[0]));
    const expected = [
      /^✗ cococat\.yaml: .*colour/,
      /^✗ agents\/a\/profile\.yaml: history_window: /,
      /^✗ agents\/b\/entries\.json: entries\.1\.config\.api_key: must be at least 16 characters$/,
      /^✗ agents\/c\/profile\.yaml: api_key: environment variable CLI_TEST_UNSET_KEY is not set$/,
      /^✗ scenes\/s\/scene\.yaml: roster\.1: agent "ghost" does not exist$/,
    ];
    for (const pattern of expected) expect(lines.filter((l) => pattern.test(l)), String(pattern)).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('✗'))).toHaveLength(expected.length);
    expect(lines.at(-1)).toMatch(new RegExp(`^5 problem\\(s\\) in ${root} \\(2 agent\\(s\\), 1 scene\\(s\\), 2 entries\\)$`));
    expect(out()).toBe('');

    // The same workspace with the variable set has one problem less.
    errorSpy.mockClear();
    expect(await main(['check', root], { CLI_TEST_UNSET_KEY: 'sk-set' })).toBe(1);
    expect(err()).toContain('4 problem(s)');
  });
});

describe('cococat commands and usage', () => {
  it('exits 2 on an unknown command, naming it', async () => {
    expect(await main(['frobnicate'], {})).toBe(2);
    expect(err()).toContain('unknown command "frobnicate"');
    expect(err()).toContain('Usage:');
  });

  it('prints usage: exit 1 without a command, 0 for help', async () => {
    expect(await main([], {})).toBe(1);
    expect(out()).toContain('cococat init DIR');
    expect(await main(['help'], {})).toBe(0);
    expect(await main(['check', '--help'], {})).toBe(0);
  });

  it('exits 2 on a bad --port or an incomplete send, before doing anything', async () => {
    const dir = tempDir();
    expect(await main(['start', '--workspace', join(dir, 'ws'), '--port', 'eighty'], {})).toBe(2);
    expect(err()).toContain('--port: "eighty" is not a port number');
    expect(existsSync(join(dir, 'ws'))).toBe(false);
    expect(await main(['send', 'assistant.web_api'], {})).toBe(2);
    expect(err()).toContain('usage: cococat send <entry> <text>');
  });
});

describe('cococat start and check refuse what they cannot run', () => {
  it('start stops with the problems of an invalid cococat.yaml instead of running on defaults', async () => {
    const root = makeWorkspace({ settings: { server: { port: 9000 }, colour: 'blue' }, agents: { a: { profile: { provider: 'echo' } } } });
    dirs.track(root);
    await expect(main(['start', '--workspace', root, '--port', '0'], {})).rejects.toThrow(/cococat\.yaml is invalid[\s\S]*colour: unknown field "colour"/);
  });

  it('check on a folder that does not exist fails with a hint', async () => {
    const code = await main(['check', join(tempDir(), 'missing')], {});
    expect(code).toBe(2);
    expect(err()).toMatch(/does not exist; create a workspace with "cococat init/);
  });
});
