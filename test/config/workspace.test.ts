import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/config/atomic-write.js';
import { checkWorkspace } from '../../src/config/check.js';
import { createDemoWorkspace } from '../../src/config/demo-workspace.js';
import { resolveReferences, SecretVault } from '../../src/config/secrets.js';
import { formatProblem, loadWorkspace, type Problem } from '../../src/config/workspace.js';
import { CocoError } from '../../src/core/errors.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace, TEST_API_KEY, webApiEntry, type WorkspaceSpec } from '../helpers/workspace.js';

const dirs = tempDirs();
const workspace = (spec: WorkspaceSpec) => dirs.track(makeWorkspace(spec));
const emptyDir = () => dirs.make('cococat-cfg-');

const put = (root: string, path: string, text: string) => {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
};

const problemsOf = (problems: Problem[], file: string) => problems.filter((p) => p.file === file);

/** A workspace with one good agent (two entries) next to the broken parts of each test. */
const good = (): WorkspaceSpec => ({
  agents: { good: { profile: { provider: 'echo', prefix: 'g: ' }, entries: [webApiEntry(), webApiEntry({}, 'second')] } },
});

describe('loadWorkspace collects problems and loads the rest', () => {
  it('reports a broken YAML profile by file; the other agent and its entries load', () => {
    const root = workspace(good());
    put(root, 'agents/broken/profile.yaml', 'provider: [echo\nprefix: "x"\n');
    const snap = loadWorkspace(root);
    expect(problemsOf(snap.problems, 'agents/broken/profile.yaml')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^not valid YAML/) }),
    ]);
    expect(snap.problems).toHaveLength(1);
    expect([...snap.agents.keys()]).toEqual(['good']);
    expect(snap.agents.get('good')!.profile).toMatchObject({ provider: 'echo', prefix: 'g: ' });
    expect(snap.entries.map((e) => e.key)).toEqual(['good.web_api', 'good.second']);
  });

  it('reports an entry without "channel" by file and field; the other entry loads', () => {
    const root = workspace(good());
    put(root, 'agents/good/entries.json', JSON.stringify({ entries: [{ config: { api_key: TEST_API_KEY } }, webApiEntry()] }));
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([expect.objectContaining({ file: 'agents/good/entries.json', field: 'entries.0.channel' })]);
    expect(snap.entries.map((e) => [e.key, e.index])).toEqual([['good.web_api', 1]]);
    expect(snap.agents.has('good')).toBe(true);
  });

  it('reports an unknown top-level key in cococat.yaml, naming it', () => {
    const root = workspace({ ...good(), settings: { server: { port: 9000 }, colour: 'blue' } });
    const snap = loadWorkspace(root);
    const problems = problemsOf(snap.problems, 'cococat.yaml');
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0]!)).toContain('colour');
    expect(snap.problems).toHaveLength(1);
    expect(snap.agents.has('good')).toBe(true);
    expect(snap.entries).toHaveLength(2);
  });

  it('reports a wrongly typed setting by field', () => {
    const root = workspace({ ...good(), settings: { server: { port: 'eighty' } } });
    expect(loadWorkspace(root).problems).toEqual([expect.objectContaining({ file: 'cococat.yaml', field: 'server.port' })]);
  });

  it('reports a duplicate entry id; the first one loads', () => {
    const root = workspace({ agents: { good: { profile: { provider: 'echo' }, entries: [webApiEntry(), webApiEntry({ wait_timeout_ms: 500 })] } } });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([
      expect.objectContaining({ file: 'agents/good/entries.json', field: 'entries.1.id', message: expect.stringContaining('web_api') }),
    ]);
    expect(snap.entries).toHaveLength(1);
    expect(snap.entries[0]).toMatchObject({ key: 'good.web_api', index: 0 });
    expect(snap.entries[0]!.config).toEqual({ api_key: TEST_API_KEY });
  });

  it('reports an agent folder whose name is not a valid id', () => {
    const root = workspace(good());
    put(root, 'agents/Bad.Name/profile.yaml', 'provider: echo\n');
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([expect.objectContaining({ file: 'agents/Bad.Name', message: expect.stringContaining('not a valid id') })]);
    expect([...snap.agents.keys()]).toEqual(['good']);
  });

  it('reports a scene roster naming a missing agent by field; the scene still loads', () => {
    const root = workspace({ ...good(), scenes: { desk: { scene: { roster: ['good', 'ghost'] }, entries: [webApiEntry()] } } });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([
      expect.objectContaining({ file: 'scenes/desk/scene.yaml', field: 'roster.1', message: expect.stringContaining('ghost') }),
    ]);
    expect(snap.scenes.get('desk')!.scene.roster).toEqual(['good', 'ghost']);
    expect(snap.entries.map((e) => e.key)).toEqual(['good.web_api', 'good.second', 'desk.web_api']);
  });

  it('reports a failover naming a missing agent or the agent itself by field, and one named twice', () => {
    const root = workspace({
      agents: {
        ...good().agents,
        main: { profile: { provider: 'echo', failover: ['good', 'ghost', 'main'] }, entries: [] },
        twice: { profile: { provider: 'echo', failover: ['good', 'good'] }, entries: [] },
      },
    });
    const snap = loadWorkspace(root);
    expect(problemsOf(snap.problems, 'agents/main/profile.yaml')).toEqual([
      expect.objectContaining({ field: 'failover.1', message: 'agent "ghost" does not exist' }),
      expect.objectContaining({ field: 'failover.2', message: 'an agent cannot be its own failover' }),
    ]);
    expect(problemsOf(snap.problems, 'agents/twice/profile.yaml')).toEqual([expect.objectContaining({ field: 'failover', message: expect.stringContaining('names an agent twice') })]);
    expect(snap.agents.get('main')!.profile.failover).toEqual(['good', 'ghost', 'main']);
  });

  it('gives a profile with language: zh the Chinese texts it leaves unset, and leaves set texts and unset sections alone', () => {
    const root = workspace({
      agents: {
        zh: { profile: { provider: 'echo', language: 'zh', reset: {}, handoff: { reply: 'Custom.', hours: {} }, access: { pairing: {} } }, entries: [] },
        en: { profile: { provider: 'echo', reset: {} }, entries: [] },
      },
    });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([]);
    const zh = snap.agents.get('zh')!.profile;
    expect(zh.fallback_reply).toBe('抱歉，我现在无法回答，请稍后再试。');
    expect(zh.reset?.reply).toBe('好的，我们重新开始。');
    expect(zh.handoff?.reply).toBe('Custom.');
    expect(zh.handoff?.hours?.closed_reply).toBe('人工客服现在不在线，我先继续为你服务。');
    expect(zh.access?.pairing?.reply).toContain('{code}');
    expect(zh.access?.pairing?.reply).toMatch(/^这个助手/);
    expect(zh.user_limit).toBeUndefined();
    expect(zh.content_filter).toBeUndefined();
    const en = snap.agents.get('en')!.profile;
    expect([en.language, en.fallback_reply, en.reset?.reply]).toEqual(['en', 'Sorry, I cannot answer right now. Please try again in a moment.', 'OK, starting a new conversation.']);
  });

  it('reports a scene id equal to an agent id; the agent keeps its entries', () => {
    const root = workspace({ ...good(), scenes: { good: { scene: { roster: ['good'] }, entries: [webApiEntry({}, 'third')] } } });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([expect.objectContaining({ file: 'scenes/good/scene.yaml', message: expect.stringContaining('also an agent id') })]);
    expect(snap.scenes.size).toBe(0);
    expect(snap.agents.has('good')).toBe(true);
    expect(snap.entries.map((e) => e.key)).toEqual(['good.web_api', 'good.second']);
  });

  it('reports an invalid profile field by file and field', () => {
    const root = workspace({ ...good(), agents: { ...good().agents, bad: { profile: { provider: 'echo', history_window: -1 } } } });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([expect.objectContaining({ file: 'agents/bad/profile.yaml', field: 'history_window' })]);
    expect([...snap.agents.keys()]).toEqual(['good']);
  });

  it('names the nested field of a debounce that cannot work', () => {
    const debounce = { quiet_ms: 5_000, max_wait_ms: 1_000 };
    const root = workspace({ ...good(), agents: { ...good().agents, bad: { profile: { provider: 'echo', debounce } } } });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([expect.objectContaining({ file: 'agents/bad/profile.yaml', field: 'debounce.max_wait_ms', message: 'max_wait_ms must be at least quiet_ms' })]);
    expect([...snap.agents.keys()]).toEqual(['good']);
  });
});

describe('${ENV} and ${secret:…} references', () => {
  it('resolves env variables and vault secrets, also inside longer strings and nested values', () => {
    const root = workspace({ secrets: { 'x.key': 'from-the-vault' } });
    const ctx = { env: { HOST: 'example.com', TOKEN: 't0k' }, vault: new SecretVault(root), file: 'agents/a/profile.yaml' };
    const out = resolveReferences({ url: 'https://${HOST}/v1', headers: ['Bearer ${TOKEN}'], key: '${secret:x.key}', n: 3 }, ctx);
    expect(out).toEqual({ url: 'https://example.com/v1', headers: ['Bearer t0k'], key: 'from-the-vault', n: 3 });
  });

  it('sees every change of the vault file, its own, another process\'s and one by hand of the same size, and no inherited names', () => {
    const root = workspace({ secrets: { 'x.key': 'aaaa' } });
    const vault = new SecretVault(root);
    const other = new SecretVault(root);
    expect(vault.get('x.key')).toBe('aaaa');
    other.put('y.key', 'from-the-other');
    expect(vault.get('y.key')).toBe('from-the-other');
    vault.put('x.key', 'bbbb');
    expect([vault.get('x.key'), other.get('x.key')]).toEqual(['bbbb', 'bbbb']);
    // Edited by hand in place: same inode, same size, another modification time (set here: the
    // file system's clock ticks coarser than this test runs).
    const file = join(root, 'data', 'secrets.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('bbbb', 'cccc'));
    utimesSync(file, new Date(), new Date(Date.now() + 60_000));
    expect(vault.get('x.key')).toBe('cccc');
    other.delete(['y.key']);
    expect(vault.get('y.key')).toBeUndefined();
    expect(vault.get('constructor')).toBeUndefined();
  });

  it.each([
    ['a missing env variable', { config: { api_key: '${NOPE_NOT_SET}' } }, 'config.api_key', /NOPE_NOT_SET is not set/],
    ['an empty env variable', { list: ['${EMPTY}'] }, 'list.0', /EMPTY is not set/],
    ['a missing secret', { api_key: '${secret:gone}' }, 'api_key', /secret "gone" is not in data\/secrets\.json/],
  ])('%s is an error naming file and field', (_name, value, field, message) => {
    const root = workspace({});
    const ctx = { env: { EMPTY: '' }, vault: new SecretVault(root), file: 'agents/a/entries.json' };
    let error: unknown;
    try {
      resolveReferences(value, ctx);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CocoError);
    expect(error).toMatchObject({ code: 'COCO_ERR_CONFIG_ENV_MISSING', file: 'agents/a/entries.json', field });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(`agents/a/entries.json: ${field}`);
  });
});

describe('checkWorkspace', () => {
  it('flags a channel config with a too short api_key by field', () => {
    const root = workspace({ agents: { a: { profile: { provider: 'echo' }, entries: [{ channel: 'web_api', config: { api_key: 'short' } }] } } });
    expect(loadWorkspace(root).problems).toEqual([]);
    const { problems } = checkWorkspace(root, {});
    expect(problems).toEqual([
      expect.objectContaining({ file: 'agents/a/entries.json', field: 'entries.0.config.api_key', message: expect.stringContaining('16') }),
    ]);
  });

  it('checks values behind references, and names the entry field of a missing one', () => {
    const root = workspace({
      agents: {
        a: {
          profile: { provider: 'echo' },
          entries: [
            { channel: 'web_api', config: { api_key: '${secret:short}' } },
            { id: 'env', channel: 'web_api', config: { api_key: '${WEB_KEY}' } },
            { id: 'odd', channel: 'carrier_pigeon', config: {} },
          ],
        },
      },
      secrets: { short: 'tiny' },
    });
    const fields = (env: Record<string, string>) => checkWorkspace(root, env).problems.map((p) => `${p.file}: ${p.field}`);
    expect(fields({ WEB_KEY: TEST_API_KEY })).toEqual(['agents/a/entries.json: entries.0.config.api_key', 'agents/a/entries.json: entries.2.channel']);
    expect(fields({})).toContain('agents/a/entries.json: entries.1.config.api_key');
  });

  it('flags an openai profile whose ${ENV} key is not set', () => {
    const root = workspace({ agents: { a: { profile: { provider: 'openai', model: 'm', api_key: '${OPENAI_API_KEY}' } } } });
    expect(checkWorkspace(root, { OPENAI_API_KEY: 'sk-x' }).problems).toEqual([]);
    expect(checkWorkspace(root, {}).problems).toEqual([
      expect.objectContaining({ file: 'agents/a/profile.yaml', field: 'api_key', message: expect.stringContaining('OPENAI_API_KEY') }),
    ]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the content and leaves no temp file', () => {
    const dir = emptyDir();
    const path = join(dir, 'sub', 'file.json');
    writeFileAtomic(path, 'one');
    writeFileAtomic(path, 'two, longer than one', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('two, longer than one');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['file.json']);
  });

  it('creates new files with the given mode', () => {
    const dir = emptyDir();
    writeFileAtomic(join(dir, 'secret'), 's', 0o600);
    expect(statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600);
  });

  it('removes its temp file when the rename fails, and leaves the target alone', () => {
    const dir = emptyDir();
    mkdirSync(join(dir, 'target', 'inside'), { recursive: true });
    expect(() => writeFileAtomic(join(dir, 'target'), 'x')).toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(join(dir, 'target'))).toEqual(['inside']);
  });
});

describe('createDemoWorkspace', () => {
  it('creates a workspace that loads and checks with zero problems, without literal secrets in config', () => {
    const root = join(emptyDir(), 'ws');
    const demo = createDemoWorkspace(root, {});
    expect(demo).toMatchObject({ root, entryKey: 'assistant.web_api', provider: 'echo' });
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([]);
    expect(checkWorkspace(root, {}).problems).toEqual([]);
    expect([...snap.agents.keys()]).toEqual(['assistant']);
    expect(snap.agents.get('assistant')!.profile.provider).toBe('echo');
    expect(snap.entries).toEqual([expect.objectContaining({ key: 'assistant.web_api', channel: 'web_api', enabled: true })]);
    expect(snap.scenes.get('helpdesk')!.scene.roster).toEqual(['assistant']);

    const entriesText = readFileSync(join(root, 'agents', 'assistant', 'entries.json'), 'utf8');
    expect(entriesText).not.toContain(demo.apiKey);
    expect(JSON.parse(entriesText).entries[0].config.api_key).toMatch(/^\$\{secret:[^}]+\}$/);
    const resolved = resolveReferences(snap.entries[0]!.config, { env: {}, vault: new SecretVault(root), file: 'entries.json' });
    expect(resolved.api_key).toBe(demo.apiKey);
    expect(demo.apiKey.length).toBeGreaterThanOrEqual(16);
    expect(statSync(join(root, 'data', 'secrets.json')).mode & 0o777).toBe(0o600);
    for (const file of ['cococat.yaml', 'agents/assistant/profile.yaml', 'scenes/helpdesk/scene.yaml', 'scenes/helpdesk/entries.json']) {
      expect(readFileSync(join(root, file), 'utf8'), file).not.toContain(demo.apiKey);
    }
  });

  it('uses the openai provider when OPENAI_API_KEY is set, by reference', () => {
    const root = join(emptyDir(), 'ws');
    const env = { OPENAI_API_KEY: 'sk-demo-env-key' };
    expect(createDemoWorkspace(root, env).provider).toBe('openai');
    const snap = loadWorkspace(root);
    expect(snap.problems).toEqual([]);
    expect(snap.agents.get('assistant')!.profile).toMatchObject({ provider: 'openai', api_key: '${OPENAI_API_KEY}' });
    expect(checkWorkspace(root, env).problems).toEqual([]);
    expect(readFileSync(join(root, 'agents', 'assistant', 'profile.yaml'), 'utf8')).not.toContain('sk-demo-env-key');
  });

  it('refuses a non-empty folder and leaves it alone', () => {
    const root = emptyDir();
    writeFileSync(join(root, 'notes.txt'), 'mine');
    expect(() => createDemoWorkspace(root, {})).toThrow(/not empty/);
    expect(readdirSync(root)).toEqual(['notes.txt']);
  });
});

