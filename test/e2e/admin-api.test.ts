import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { TEST_API_KEY, webApiEntry, type WorkspaceSpec } from '../helpers/workspace.js';

/** Secrets that must never appear in an admin (or chat) response. */
const SECRET = 'sk-live-abc0123456789xyz';
const KEY_A = 'cc-entry-key-aaaaaaaaaaaaaaaa';
const KEY_B = 'cc-entry-key-bbbbbbbbbbbbbbbb';
const ENV_KEY = 'sk-env-value-0123456789';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Res = { status: number; json: any };

let t: TestGateway | undefined;
/** Every response body this test received, scanned for secrets in afterEach. */
let bodies: string[] = [];

afterEach(async () => {
  const all = bodies.join('\n');
  bodies = [];
  await t?.close();
  t = undefined;
  for (const secret of [SECRET, 'sk-live-abc', KEY_A, KEY_B, ENV_KEY]) expect(all).not.toContain(secret);
});

async function open(spec: WorkspaceSpec, env: Record<string, string> = {}): Promise<TestGateway> {
  t = await startTestGateway(spec, { env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN, ...env } });
  return t;
}

/** An admin request through inject(); `raw` sends the payload as is; `token: null` sends no header. */
async function api(method: Method, url: string, body?: unknown, opts: { token?: string | null; raw?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? ADMIN_TOKEN}`;
  const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await t!.app.inject({ method, url: `/api/admin${url}`, headers, payload });
  bodies.push(res.body);
  return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : undefined };
}

async function chat(key: string, apiKey: string, content = 'hello'): Promise<Res> {
  const res = await t!.chat(key, { userId: 'alice', content }, { wait: true, key: apiKey });
  bodies.push(JSON.stringify(res.json));
  return res;
}

async function entryState(key: string, state: string): Promise<void> {
  await t!.until(async () => {
    const res = await api('GET', '/entries');
    return res.json.entries.some((e: { key: string; state: string }) => e.key === key && e.state === state);
  });
}

const file = (...parts: string[]) => join(t!.root, ...parts);
const read = (...parts: string[]) => readFileSync(file(...parts), 'utf8');

/** Every path under the workspace, except the store's own files (they come and go with checkpoints). */
const listTree = (root: string) => (readdirSync(root, { recursive: true }) as string[]).filter((p) => !/^data\/cococat\.db/.test(p)).sort();

const echoAgent = (entries?: unknown[]) => ({ profile: { provider: 'echo', prefix: 'echo: ' }, ...(entries ? { entries } : {}) });
const baseSpec = (): WorkspaceSpec => ({
  agents: { assistant: echoAgent([webApiEntry()]) },
  scenes: { helpdesk: { scene: { roster: ['assistant'] } } },
});

describe('admin API authentication', () => {
  const reads = ['/agents', '/entries', '/messages', '/channel-types', '/dead-letters'].map((url): [Method, string] => ['GET', url]);
  const routes: [Method, string, unknown?][] = [...reads, ['PUT', '/agents/intruder', { provider: 'echo' }], ['DELETE', '/agents/assistant']];

  it('answers 401 without a token and with a wrong one, and changes nothing', async () => {
    await open(baseSpec());
    const before = listTree(t!.root);
    for (const [method, url, body] of routes) {
      for (const token of [null, 'wrong-token-0123456789abcdef', '']) {
        const res = await api(method, url, body, { token });
        expect(res.status, `${method} ${url} token=${token}`).toBe(401);
        expect(res.json.error.code).toBe('COCO_ERR_UNAUTHORIZED');
      }
    }
    const basic = await t!.app.inject({ method: 'GET', url: '/api/admin/agents', headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    bodies.push(basic.body);
    expect(basic.statusCode).toBe(401);
    expect(listTree(t!.root)).toEqual(before);
    expect(existsSync(file('agents', 'assistant', 'profile.yaml'))).toBe(true);
  });

  it('answers 200 with the right token', async () => {
    await open(baseSpec());
    for (const [method, url] of reads) expect((await api(method, url)).status, url).toBe(200);
    expect((await api('GET', '/agents')).json.agents.map((a: { id: string }) => a.id)).toEqual(['assistant']);
  });
});

describe('channel catalog', () => {
  it('lists web_api with a JSON Schema marking api_key write-only and secret', async () => {
    await open(baseSpec());
    const res = await api('GET', '/channel-types');
    expect(res.status).toBe(200);
    const webApi = res.json.channelTypes.find((c: { type: string }) => c.type === 'web_api');
    expect(webApi).toBeDefined();
    expect(webApi.configSchema.type).toBe('object');
    expect(webApi.configSchema.properties.api_key).toMatchObject({ type: 'string', writeOnly: true, 'x-secret': true });
    expect(webApi.configSchema.required).toContain('api_key');
    expect(webApi.configSchema.properties.rate_limit_per_minute['x-secret']).toBeUndefined();
  });
});

describe('agents CRUD', () => {
  it('creates, reads, updates, lists and deletes an agent, with the files on disk matching', async () => {
    await open(baseSpec());
    const created = await api('PUT', '/agents/writer', { provider: 'echo', prefix: 'w: ', history_window: 5 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'writer', profile: { provider: 'echo', prefix: 'w: ', history_window: 5 } });
    expect(parseYaml(read('agents', 'writer', 'profile.yaml'))).toEqual({ provider: 'echo', prefix: 'w: ', history_window: 5 });

    const got = await api('GET', '/agents/writer');
    expect(got.status).toBe(200);
    expect(got.json.profile).toMatchObject({ provider: 'echo', prefix: 'w: ', history_window: 5, retries: 2 });

    const updated = await api('PUT', '/agents/writer', { provider: 'echo', prefix: 'v2: ', name: 'Writer' });
    expect(updated.status).toBe(200);
    expect(updated.json.profile).toMatchObject({ prefix: 'v2: ', name: 'Writer', history_window: 20 });
    expect(parseYaml(read('agents', 'writer', 'profile.yaml'))).toEqual({ provider: 'echo', prefix: 'v2: ', name: 'Writer' });

    const listed = await api('GET', '/agents');
    expect(listed.json.agents.map((a: { id: string }) => a.id).sort()).toEqual(['assistant', 'writer']);

    const deleted = await api('DELETE', '/agents/writer');
    expect(deleted.status).toBe(204);
    expect(existsSync(file('agents', 'writer'))).toBe(false);
    expect((await api('GET', '/agents/writer')).status).toBe(404);
    expect((await api('DELETE', '/agents/writer')).json.error.code).toBe('COCO_ERR_NOT_FOUND');
  });

  it.each([
    ['openai without model', { provider: 'openai', api_key: 'k' }, 'model'],
    ['negative history_window', { provider: 'echo', history_window: -1 }, 'history_window'],
    ['unknown provider', { provider: 'gpt5' }, 'provider'],
  ])('rejects %s with 400 naming the field and writes nothing', async (_name, profile, field) => {
    await open(baseSpec());
    const fresh = await api('PUT', '/agents/fresh', profile);
    expect(fresh.status).toBe(400);
    expect(fresh.json.error).toMatchObject({ code: 'COCO_ERR_CONFIG_INVALID', field });
    expect(existsSync(file('agents', 'fresh'))).toBe(false);

    const before = read('agents', 'assistant', 'profile.yaml');
    const existing = await api('PUT', '/agents/assistant', profile);
    expect(existing.status).toBe(400);
    expect(existing.json.error.field).toBe(field);
    expect(read('agents', 'assistant', 'profile.yaml')).toBe(before);
    expect((await api('GET', '/agents/assistant')).json.profile.provider).toBe('echo');
  });

  it('refuses to delete an agent in a scene roster (409) and an agent id equal to a scene id', async () => {
    await open(baseSpec());
    const res = await api('DELETE', '/agents/assistant');
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('COCO_ERR_ID_CONFLICT');
    expect(res.json.error.message).toContain('helpdesk');
    expect(existsSync(file('agents', 'assistant', 'profile.yaml'))).toBe(true);

    const clash = await api('PUT', '/agents/helpdesk', { provider: 'echo' });
    expect(clash.status).toBe(409);
    expect(existsSync(file('agents', 'helpdesk'))).toBe(false);

    const scene = await api('PUT', '/scenes/sales', { roster: ['nobody'] });
    expect(scene.status).toBe(400);
    expect(scene.json.error.field).toBe('roster.0');
    expect(existsSync(file('scenes', 'sales'))).toBe(false);
  });
});

describe('secrets in agent profiles', () => {
  it('masks a literal API key, stores it only in data/secrets.json (0600) and keeps it on a masked write', async () => {
    await open(baseSpec(), { OPENAI_API_KEY: ENV_KEY });
    const created = await api('PUT', '/agents/gpt', { provider: 'openai', model: 'gpt-4o-mini', api_key: SECRET });
    expect(created.status).toBe(201);
    expect(created.json.profile.api_key).toBe('********');
    expect(created.json.secrets.api_key).toEqual({ set: true, source: 'stored' });

    const profileText = read('agents', 'gpt', 'profile.yaml');
    expect(profileText).not.toContain('sk-live-abc');
    expect(parseYaml(profileText).api_key).toBe('${secret:agent.gpt.api_key}');
    expect(JSON.parse(read('data', 'secrets.json'))['agent.gpt.api_key']).toBe(SECRET);
    expect(statSync(file('data', 'secrets.json')).mode & 0o777).toBe(0o600);

    const got = await api('GET', '/agents/gpt');
    expect(got.json.profile.api_key).toBe('********');
    expect(got.json.secrets.api_key.set).toBe(true);

    // The panel sends the mask back (or leaves the field out): the stored secret stays.
    for (const body of [
      { provider: 'openai', model: 'gpt-4.1', api_key: '********' },
      { provider: 'openai', model: 'gpt-4.1-mini' },
    ]) {
      const res = await api('PUT', '/agents/gpt', body);
      expect(res.status).toBe(200);
      expect(res.json.profile).toMatchObject({ model: body.model, api_key: '********' });
      expect(parseYaml(read('agents', 'gpt', 'profile.yaml')).api_key).toBe('${secret:agent.gpt.api_key}');
      expect(JSON.parse(read('data', 'secrets.json'))['agent.gpt.api_key']).toBe(SECRET);
    }

    // Every read route, scanned by afterEach.
    for (const url of ['/agents', '/scenes', '/entries', '/workspace/problems', '/messages', '/dead-letters', '/agents/assistant/entries']) {
      expect((await api('GET', url)).status).toBe(200);
    }

    expect((await api('DELETE', '/agents/gpt')).status).toBe(204);
    expect(read('data', 'secrets.json')).not.toContain(SECRET);
  });

  it('shows an ${ENV} reference as is, and rejects one naming an unset variable', async () => {
    await open(baseSpec(), { OPENAI_API_KEY: ENV_KEY });
    const res = await api('PUT', '/agents/gpt', { provider: 'openai', model: 'm', api_key: '${OPENAI_API_KEY}' });
    expect(res.status).toBe(201);
    expect(res.json.profile.api_key).toBe('${OPENAI_API_KEY}');
    expect(res.json.secrets.api_key).toEqual({ set: true, source: 'env' });
    expect(parseYaml(read('agents', 'gpt', 'profile.yaml')).api_key).toBe('${OPENAI_API_KEY}');

    const missing = await api('PUT', '/agents/gpt2', { provider: 'openai', model: 'm', api_key: '${NOT_SET_ANYWHERE}' });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ code: 'COCO_ERR_CONFIG_ENV_MISSING', field: 'api_key' });
    expect(existsSync(file('agents', 'gpt2'))).toBe(false);
  });
});

describe('entries', () => {
  it('adds, edits, disables, enables and deletes web_api entries of an agent', async () => {
    await open({ agents: { assistant: echoAgent() } });
    const added = await api('POST', '/agents/assistant/entries', { channel: 'web_api', config: { api_key: KEY_A } });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ key: 'assistant.web_api', id: 'web_api', config: { api_key: '********' }, secrets: { api_key: { set: true } } });
    const entriesFile = () => read('agents', 'assistant', 'entries.json');
    expect(entriesFile()).not.toContain(KEY_A);
    expect(JSON.parse(entriesFile()).entries[0].config.api_key).toBe('${secret:assistant.web_api.api_key}');
    await entryState('assistant.web_api', 'running');
    const first = await chat('assistant.web_api', KEY_A);
    expect(first.status).toBe(200);
    expect(first.json.reply.text).toBe('echo: hello');

    // An invalid config is refused and the file is left alone.
    const before = entriesFile();
    const bad = await api('PUT', '/agents/assistant/entries/web_api', { channel: 'web_api', config: { api_key: 'short' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toMatch(/^config\./);
    expect(bad.json.error.field).toBe('config.api_key');
    expect(entriesFile()).toBe(before);
    const badExtra = await api('PUT', '/agents/assistant/entries/web_api', { channel: 'web_api', config: { rate_limit_per_minute: 0 } });
    expect(badExtra.json.error.field).toBe('config.rate_limit_per_minute');
    expect(entriesFile()).toBe(before);

    // A masked edit keeps the key.
    const edited = await api('PUT', '/agents/assistant/entries/web_api', { channel: 'web_api', config: { api_key: '********', wait_timeout_ms: 5_000 } });
    expect(edited.status).toBe(200);
    expect(edited.json.config).toEqual({ api_key: '********', wait_timeout_ms: 5_000 });
    await entryState('assistant.web_api', 'running');
    expect((await chat('assistant.web_api', KEY_A)).status).toBe(200);

    expect((await api('POST', '/agents/assistant/entries/web_api/disable')).json.enabled).toBe(false);
    await entryState('assistant.web_api', 'stopped');
    const off = await chat('assistant.web_api', KEY_A);
    expect(off.status).toBe(503);
    expect(off.json.error.code).toBe('COCO_ERR_CHANNEL_NOT_RUNNING');
    expect((await api('POST', '/agents/assistant/entries/web_api/enable')).json.enabled).toBe(true);
    await entryState('assistant.web_api', 'running');
    expect((await chat('assistant.web_api', KEY_A)).status).toBe(200);

    const dup = await api('POST', '/agents/assistant/entries', { channel: 'web_api', config: { api_key: KEY_B } });
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe('COCO_ERR_ID_CONFLICT');
    expect(JSON.parse(entriesFile()).entries).toHaveLength(1);

    const second = await api('POST', '/agents/assistant/entries', { id: 'second', channel: 'web_api', config: { api_key: KEY_B } });
    expect(second.status).toBe(201);
    expect(second.json.key).toBe('assistant.second');
    await entryState('assistant.second', 'running');
    await entryState('assistant.web_api', 'running');
    expect((await chat('assistant.second', KEY_B, 'two')).json.reply.text).toBe('echo: two');
    expect((await chat('assistant.second', KEY_A)).status).toBe(401);
    const listed = await api('GET', '/agents/assistant/entries');
    expect(listed.json.entries.map((e: { key: string }) => e.key)).toEqual(['assistant.web_api', 'assistant.second']);

    expect((await api('DELETE', '/agents/assistant/entries/second')).status).toBe(204);
    expect((await api('GET', '/entries/assistant.second/status')).status).toBe(404);
    expect((await api('GET', '/entries')).json.entries.map((e: { key: string }) => e.key)).toEqual(['assistant.web_api']);
    expect(read('data', 'secrets.json')).not.toContain(KEY_B);
    expect((await chat('assistant.second', KEY_B)).status).toBe(404);
  });
});

describe('ids that could be paths are refused', () => {
  it.each<[Method, string, unknown?]>([
    ['PUT', '/agents/..%2F..%2Fetc', { provider: 'echo' }],
    ['PUT', '/agents/..%2F..%2F..%2Ftmp%2Fpwned', { provider: 'echo' }],
    ['PUT', '/agents/UPPER', { provider: 'echo' }],
    ['PUT', '/agents/a.b', { provider: 'echo' }],
    ['PUT', '/agents/%2e%2e', { provider: 'echo' }],
    ['PUT', '/scenes/%2e%2e', { roster: ['assistant'] }],
    ['PUT', '/scenes/..%2Fagents%2Fassistant', { roster: ['assistant'] }],
    ['DELETE', '/agents/..%2Fscenes%2Fhelpdesk'],
    ['GET', '/agents/..%2F..%2Fetc'],
    ['POST', '/agents/..%2F..%2Fetc/entries', { channel: 'web_api', config: { api_key: KEY_A } }],
    ['POST', '/agents/assistant/entries', { id: '../x', channel: 'web_api', config: { api_key: KEY_A } }],
    ['POST', '/agents/assistant/entries', { id: 'a/b', channel: 'web_api', config: { api_key: KEY_A } }],
    ['PUT', '/agents/assistant/entries/..%2F..%2Fx', { channel: 'web_api', config: { api_key: KEY_A } }],
    ['PUT', '/agents/assistant/entries/a%2Fb', { channel: 'web_api', config: { api_key: KEY_A } }],
    ['POST', '/agents/assistant/entries/..%2Fweb_api/disable'],
    ['DELETE', '/agents/assistant/entries/..'],
  ])('%s %s → 4xx, nothing created', async (method, url, body) => {
    await open(baseSpec());
    const outside = [join(t!.root, '..', 'etc'), join(dirname(t!.root), 'tmp', 'pwned'), join(t!.root, 'etc')];
    const outsideBefore = outside.map((p) => existsSync(p));
    const before = listTree(t!.root);
    const entriesBefore = read('agents', 'assistant', 'entries.json');
    const res = await api(method, url, body);
    expect([400, 404]).toContain(res.status);
    expect(res.json.error.code).toMatch(/^COCO_ERR_(ID_INVALID|NOT_FOUND|REQUEST_INVALID)$/);
    expect(listTree(t!.root)).toEqual(before);
    expect(outside.map((p) => existsSync(p))).toEqual(outsideBefore);
    expect(read('agents', 'assistant', 'entries.json')).toBe(entriesBefore);
    expect(existsSync(file('scenes', 'helpdesk', 'scene.yaml'))).toBe(true);
  });
});

describe('malformed request bodies', () => {
  it.each<[string, Method, string, string, string | undefined]>([
    ['truncated JSON', 'PUT', '/agents/x', '{"provider": ', 'body'],
    ['a JSON array', 'PUT', '/agents/x', '[1,2]', 'body'],
    ['a JSON string', 'PUT', '/agents/x', '"echo"', 'body'],
    ['null', 'PUT', '/scenes/s', 'null', 'body'],
    ['truncated JSON to entries', 'POST', '/agents/assistant/entries', '{"channel"', 'body'],
    ['an array to entries', 'POST', '/agents/assistant/entries', '[]', 'body'],
    ['an unknown entry field', 'POST', '/agents/assistant/entries', '{"channel":"web_api","colour":"red"}', 'colour'],
  ])('%s → 400 COCO_ERR_REQUEST_INVALID', async (_name, method, url, raw, field) => {
    await open(baseSpec());
    const before = listTree(t!.root);
    const res = await api(method, url, undefined, { raw });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('COCO_ERR_REQUEST_INVALID');
    expect(res.json.error.field).toBe(field);
    expect(listTree(t!.root)).toEqual(before);
  });
});

describe('message log and dead letters', () => {
  it('lists a chat message as done with its timeline', async () => {
    await open(baseSpec());
    await entryState('assistant.web_api', 'running');
    const sent = await chat('assistant.web_api', TEST_API_KEY, 'log me');
    expect(sent.status).toBe(200);
    const id = sent.json.messageId as string;
    await t!.until(async () => (await api('GET', `/messages/${id}`)).json.replies?.[0]?.status === 'sent');
    const list = await api('GET', '/messages?entry=assistant.web_api');
    expect(list.json.messages).toEqual([expect.objectContaining({ id, status: 'done', content: 'log me', userId: 'alice' })]);
    const one = await api('GET', `/messages/${id}`);
    expect(one.status).toBe(200);
    expect(one.json.timeline.map((e: { stage: string }) => e.stage)).toEqual(expect.arrayContaining(['received', 'claimed', 'replied', 'sent']));
    expect(one.json.replies[0]).toMatchObject({ text: 'echo: log me', status: 'sent' });
    expect((await api('GET', '/messages?status=done')).json.messages).toHaveLength(1);
    expect((await api('GET', '/messages?status=dead')).json.messages).toHaveLength(0);
    expect((await api('GET', '/messages/999999')).status).toBe(404);
    expect((await api('GET', '/messages/abc')).status).toBe(404);
    const badQuery = await api('GET', '/messages?status=lost');
    expect(badQuery.status).toBe(400);
    expect(badQuery.json.error).toMatchObject({ code: 'COCO_ERR_REQUEST_INVALID', field: 'status' });
  });

  it('lists an inbound dead letter and retries it; the heartbeat then answers it', async () => {
    await open(baseSpec());
    await entryState('assistant.web_api', 'running');
    const store = t!.gateway.store;
    const now = Date.now();
    const message = { channelType: 'web_api', sceneId: 'assistant', userId: 'dl-user', conversationId: 'dl-user', content: 'revive me' } as const;
    const { id } = await store.enqueue(
      {
        ...{ entryKey: 'assistant.web_api', channelType: 'web_api', targetKind: 'agent', targetId: 'assistant', dedupKey: 'dl-1' } as const,
        conversationKey: 'assistant.web_api/dl-user',
        message: { ...message, msgType: 'text', msgId: 'dl-1', timestamp: now, isGroup: false, mentionsBot: true },
      },
      now,
    );
    // No timer runs between the enqueue resolving and this claim, so the heartbeat cannot take it first.
    const claimed = await store.claimInbound({ now, leaseMs: 60_000, limit: 10, owner: 'test' });
    expect(claimed.map((c) => c.id)).toEqual([id]);
    expect(await store.deadLetterInbound(id, claimed[0]!.leaseToken, { now, error: 'test: poisoned' })).toBe(true);

    const dead = await api('GET', '/dead-letters');
    expect(dead.json.deadLetters).toEqual([expect.objectContaining({ kind: 'inbound', id, text: 'revive me', error: 'test: poisoned' })]);
    expect((await api('GET', '/dead-letters?kind=outbound')).json.deadLetters).toEqual([]);
    expect((await api('GET', `/messages/${id}`)).json.status).toBe('dead');

    const retried = await api('POST', `/dead-letters/inbound/${id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.json).toEqual({ retried: true, kind: 'inbound', id });
    await t!.until(async () => (await api('GET', `/messages/${id}`)).json.status === 'done');
    const feed = await t!.until(async () => {
      const items = await store.readFeed('assistant.web_api', 'dl-user', 0, 10);
      return items.length > 0 ? items : undefined;
    });
    expect(feed[0]!.payload).toMatchObject({ messageId: id, text: 'echo: revive me' });
    expect((await api('GET', '/dead-letters')).json.deadLetters).toEqual([]);

    // Retrying what is not (or no longer) dead is a 404.
    for (const path of [`inbound/${id}`, 'inbound/424242', 'outbound/1', 'sideways/1', 'inbound/x']) {
      const url = `/dead-letters/${path}/retry`;
      const res = await api('POST', url);
      expect(res.status, url).toBe(404);
      expect(res.json.error.code).toBe('COCO_ERR_NOT_FOUND');
    }
  });
});
