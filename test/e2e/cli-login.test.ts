import { describe, expect, it } from 'vitest';
import { loginCommand } from '../../src/cli/commands/login.js';
import { FakeIlink } from '../fakes/ilink/index.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { ADMIN_TOKEN, startTestGateway } from '../helpers/gateway.js';

const ENTRY = 'bot.wechat_ilink';

const opened = closeAfterEach();

async function setup() {
  const fake = opened(await FakeIlink.start({ longPollMs: 300, qrPollMs: 200 }));
  const t = opened(await startTestGateway({ agents: { bot: { profile: { provider: 'echo' }, entries: [{ type: 'channel', channel: 'wechat_ilink', config: { base_url: fake.url } }] } } }));
  const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, fake, url };
}

describe('cococat login', () => {
  it('prints the QR code in the terminal, follows the scan, and ends when the login is confirmed', async () => {
    const { t, fake, url } = await setup();
    const printed: string[] = [];
    const done = loginCommand({ workspace: t.root, entryKey: ENTRY, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l) => printed.push(l), pollMs: 50 });
    await t.until(() => printed.some((l) => l.startsWith('Scan it with WeChat')));
    // The code is drawn with block characters, and the link is there for a phone to open.
    expect(printed.some((l) => /[█▀▄]/.test(l) && l.split('\n').length > 15)).toBe(true);
    expect(printed.join('\n')).toContain(fake.qrSessions.at(-1)!.imgContent);
    fake.scan();
    await t.until(() => printed.includes('Scanned: confirm the login on the phone.'));
    const token = fake.confirm();
    expect(await done).toBe(0);
    expect(printed.at(-1)).toBe(`Logged in as ${fake.botId}; the entry ${ENTRY} restarts with its new credentials.`);
    expect(printed.join('\n')).not.toContain(token);
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running', 15_000);
  });

  it('cancels the login when interrupted, and says what is missing without a token or an entry', async () => {
    const { t, url } = await setup();
    const stop = new AbortController();
    const printed: string[] = [];
    const done = loginCommand({ workspace: t.root, entryKey: ENTRY, url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l) => printed.push(l), signal: stop.signal, pollMs: 50 });
    await t.until(() => printed.some((l) => l.startsWith('Scan it')));
    stop.abort();
    expect(await done).toBe(130);
    expect((await t.admin('GET', '/agents/bot/entries/wechat_ilink/login')).json.state).toBe('cancelled');

    const lines: string[] = [];
    expect(await loginCommand({ workspace: t.root, entryKey: ENTRY, url, env: {}, print: (l) => lines.push(l) })).toBe(2);
    expect(lines[0]).toMatch(/COCOCAT_ADMIN_TOKEN/);
    expect(await loginCommand({ workspace: t.root, entryKey: 'bot.nope', url, env: { COCOCAT_ADMIN_TOKEN: ADMIN_TOKEN }, print: (l) => lines.push(l) })).toBe(2);
    expect(lines[1]).toMatch(/no entry "bot.nope".*bot.wechat_ilink/);
  });
});
