import { afterAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway.js';
import { CocoError } from '../../src/core/errors.js';
import { openStore, redactUrl } from '../../src/store/open-store.js';
import { dropSchemas, pgQuery } from '../helpers/postgres.js';
import { makeWorkspace, removeWorkspace, webApiEntry } from '../helpers/workspace.js';

const PG_URL = process.env.COCOCAT_TEST_PG_URL;

async function failure(p: Promise<unknown>): Promise<CocoError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CocoError);
  return err as CocoError;
}

describe('store.url', () => {
  it('hides the password of a URL', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('postgres://app@db/x')).toBe('postgres://app@db/x');
    expect(redactUrl('sqlite:data/cococat.db')).toBe('sqlite:data/cococat.db');
  });

  it('refuses an unknown scheme, naming the file and field', async () => {
    const err = await failure(openStore('/tmp', 'mysql://root:pw@localhost/db'));
    expect(err.code).toBe('COCO_ERR_CONFIG_INVALID');
    expect(err.file).toBe('cococat.yaml');
    expect(err.field).toBe('store.url');
    expect(err.message).not.toContain(':pw@');
  });

  it('reports a PostgreSQL server it cannot reach without printing the password', async () => {
    // Port 1 on the loopback refuses at once.
    const err = await failure(openStore('/tmp', 'postgres://app:hunter2@127.0.0.1:1/cococat'));
    expect(err.code).toBe('COCO_ERR_STORE');
    expect(err.field).toBe('store.url');
    expect(err.message).toContain('postgres://app:***@127.0.0.1:1/cococat');
    expect(err.message).not.toContain('hunter2');
  });

  it('refuses a schema name that is not a plain lowercase identifier', async () => {
    const err = await failure(openStore('/tmp', 'postgres://app@127.0.0.1:1/cococat?schema=Robert%27);drop'));
    expect(err.code).toBe('COCO_ERR_STORE');
    expect(err.message).toMatch(/schema name/);
  });
});

describe.skipIf(!PG_URL)('a gateway on PostgreSQL', () => {
  const schema = `cc_open_${process.pid}_${Date.now().toString(36)}`;
  let root: string | undefined;
  afterAll(async () => {
    if (root) removeWorkspace(root);
    await dropSchemas(PG_URL!, [schema]);
  });

  it('takes the URL from ${ENV} and creates its tables in the named schema', async () => {
    root = makeWorkspace({
      settings: { admin_token: 'admin-token-for-open-store', store: { url: '${COCOCAT_DB_URL}' } },
      agents: { assistant: { profile: { provider: 'echo' }, entries: [webApiEntry()] } },
    });
    const url = new URL(PG_URL!);
    url.searchParams.set('schema', schema);
    const gateway = await Gateway.open({ workspace: root, env: { COCOCAT_DB_URL: url.toString() } });
    try {
      const accepted = await gateway.store.enqueue(
        {
          entryKey: 'assistant.web_api', channelType: 'web_api', targetKind: 'agent', targetId: 'assistant', dedupKey: 'm1',
          conversationKey: 'assistant.web_api/u1',
          message: {
            channelType: 'web_api', sceneId: 'assistant', userId: 'u1', conversationId: 'u1', content: 'hi', msgType: 'text',
            msgId: 'm1', timestamp: 1, isGroup: false, mentionsBot: true,
          },
        },
        1,
      );
      expect(accepted.duplicate).toBe(false);
    } finally {
      await gateway.close();
    }
    const rows = await pgQuery<{ n: string }>(PG_URL!, `SELECT count(*) AS n FROM ${schema}.inbound`);
    expect(Number(rows[0]!.n)).toBe(1);
  });
});
