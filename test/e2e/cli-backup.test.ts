import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backupCommand } from '../../src/cli/commands/backup.js';
import { checkCommand } from '../../src/cli/commands/check.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace, webApiEntry } from '../helpers/workspace.js';

// Before closeAfterEach(): folders are removed once the gateways on them are closed.
const dirs = tempDirs();
const opened = closeAfterEach();
const CLI = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url));

/** `cococat backup` in a process of its own, as an operator runs it beside the gateway. */
function cliBackup(workspace: string, dest: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'backup', dest, '--workspace', workspace], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('cococat backup', () => {
  it('copies a running gateway\'s workspace with a consistent store snapshot while it takes messages; the copy starts and has them', async () => {
    const spec = { agents: { bot: { profile: { provider: 'echo' }, entries: [webApiEntry()] } }, secrets: { 'bot-key': 'kept-in-the-vault' } };
    const t = opened(await startTestGateway({ root: dirs.track(makeWorkspace(spec)) }));
    await t.until(() => t.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
    for (let i = 0; i < 20; i++) await t.chat('bot.web_api', { userId: `u${i % 4}`, content: `before ${i}` }, { wait: true });

    // Messages keep arriving while the backup runs in its own process.
    let writing = true;
    let during = 0;
    const writer = (async () => {
      while (writing) {
        // The entry's rate limit turns some away (429): the same text again until it is taken.
        if ((await t.chat('bot.web_api', { userId: 'busy', content: `during ${during}` })).status === 202) during++;
        else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const dest = join(dirs.make('cococat-backups-'), 'b1');
    const result = await cliBackup(t.root, dest);
    writing = false;
    await writer;
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/store snapshot: data\/cococat\.db, \d+ message\(s\)/);
    expect(during).toBeGreaterThan(0);

    // A workspace of its own, readable by its owner only (it holds the secrets).
    expect(mode(dest)).toBe(0o700);
    expect(mode(join(dest, 'data', 'secrets.json'))).toBe(0o600);
    expect(mode(join(dest, 'data', 'cococat.db'))).toBe(0o600);
    expect(existsSync(join(dest, 'data', 'cococat.db-wal'))).toBe(false);
    expect(checkCommand(dest, {})).toBe(0);

    await t.close();
    const copy = opened(await startTestGateway({ root: dest }));
    await copy.until(() => copy.gateway.keeper.statusOf('bot.web_api')?.state === 'running');
    const contents = (await copy.gateway.store.listMessages({ limit: 500 })).map((m) => m.content);
    for (let i = 0; i < 20; i++) expect(contents).toContain(`before ${i}`);
    // A consistent snapshot: the messages it holds of those sent during the backup are a prefix of them.
    const heldDuring = contents.filter((c) => c.startsWith('during ')).map((c) => Number(c.slice('during '.length))).sort((a, b) => a - b);
    expect(heldDuring.length).toBeGreaterThan(0);
    expect(heldDuring).toEqual(heldDuring.map((_, i) => i));
    expect((await copy.chat('bot.web_api', { userId: 'after', content: 'from the copy' }, { wait: true })).json.reply.text).toBe('from the copy');
  }, 60_000);

  it('never overwrites, never writes into the workspace, and needs a workspace', () => {
    const root = dirs.track(makeWorkspace({ agents: { bot: { profile: { provider: 'echo' } } } }));
    const errors: string[] = [];
    const print = (l: string) => errors.push(l);
    expect(backupCommand({ workspace: root, dest: root, env: {}, print })).toBe(2);
    expect(backupCommand({ workspace: root, dest: join(root, 'backups', 'b'), env: {}, print })).toBe(2);
    expect(backupCommand({ workspace: dirs.make('cococat-empty-'), dest: join(dirs.make('cococat-b-'), 'b'), env: {}, print })).toBe(2);
    expect(existsSync(join(root, 'backups'))).toBe(false);
  });

  it('copies the configuration of a PostgreSQL workspace and says the database is pg_dump\'s', () => {
    const root = dirs.track(makeWorkspace({ settings: { store: { url: 'postgres://cococat:${PGPASS}@db.internal:5432/cococat' } }, agents: { bot: { profile: { provider: 'echo' } } } }));
    const printed: string[] = [];
    const dest = join(dirs.make('cococat-b-'), 'b');
    expect(backupCommand({ workspace: root, dest, env: { PGPASS: 'hunter22-secret' }, print: (l) => printed.push(l) })).toBe(0);
    expect(existsSync(join(dest, 'agents', 'bot', 'profile.yaml'))).toBe(true);
    expect(printed.join('\n')).toMatch(/postgres:\/\/cococat:\*\*\*@db\.internal:5432\/cococat: back its database up with pg_dump/);
    expect(printed.join('\n')).not.toContain('hunter22');
  });
});
