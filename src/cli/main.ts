import { parseArgs } from 'node:util';
import { describeError } from '../core/errors.js';
import { checkCommand } from './commands/check.js';
import { initCommand } from './commands/init.js';
import { sendCommand } from './commands/send.js';
import { startCommand } from './commands/start.js';

const USAGE = `cococat — connect AI agents to WeChat, WeCom, Feishu/Lark and a Web API

Usage:
  cococat start [--workspace DIR] [--port N] [--host H]   run the gateway (default ./workspace, 8787, 127.0.0.1)
  cococat init DIR                                         create a demo workspace; prints the admin token and API key
  cococat check [DIR]                                      validate a workspace; exit 1 on any problem
  cococat send <entry> <text> [--attach FILE]... [--user ID] [--workspace DIR] [--url URL]
                                                           talk to a web_api entry, e.g. send assistant.web_api "hi"
                                                           (--attach: an image, or a file for http agents with files: true)
  cococat login <entry> [--workspace DIR] [--url URL]     log a personal WeChat entry in: prints a QR code to scan
                                                           (needs the running gateway and COCOCAT_ADMIN_TOKEN)
  cococat status [--workspace DIR] [--url URL]            every entry of the running gateway: state, traffic, last error,
                                                           and agents failing run after run (exit 1 when an enabled entry
                                                           is in error or an agent fails)
  cococat restart <entry> [--workspace DIR] [--url URL]   stop and start one entry now, e.g. after fixing its platform
  cococat forget <entry> <userId> [--workspace DIR] [--url URL]
                                                           delete what the gateway keeps of one user (a request to be forgotten)
  cococat pairing [approve CODE | reject CODE] [--workspace DIR] [--url URL]
                                                           strangers' pairing requests (access.pairing): list, approve, reject
                                                           (these need COCOCAT_ADMIN_TOKEN)
  cococat stats [--days N] [--entry KEY] [--timezone ZONE] [--workspace DIR] [--url URL]
                                                           messages per day of the running gateway: received, done, fallback,
                                                           dead, waiting, mean time to finish (needs COCOCAT_ADMIN_TOKEN)
  cococat export [--entry KEY] [--user ID] [--text WORDS] [--since T] [--until T] [--limit N] [--workspace DIR] [--url URL]
                                                           the message log as JSON Lines on standard output, newest first
                                                           (T: ISO 8601 or epoch ms; needs COCOCAT_ADMIN_TOKEN)
  cococat backup DEST [--workspace DIR]                    copy the workspace and a consistent snapshot of its SQLite store
                                                           into the new folder DEST, also while the gateway runs
  cococat simulate wechat_mp|wechat_ilink|feishu|wecom|wecom_bot [--agent ID] [--user ID] [--workspace DIR]
                                                           be a user of a local fake 公众号, Feishu or WeCom app wired to an agent
Environment: PORT, COCOCAT_ADMIN_TOKEN, COCOCAT_LOG_LEVEL, COCOCAT_LOG_FORMAT=json, OPENAI_API_KEY`;

/** The CLI is the one place that reads process.env and argv. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      workspace: { type: 'string', short: 'w' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      user: { type: 'string', short: 'u' },
      url: { type: 'string' },
      agent: { type: 'string', short: 'a' },
      attach: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
      entry: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      text: { type: 'string' },
      days: { type: 'string' },
      timezone: { type: 'string' },
    },
  });
  if (!command || values.help || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  switch (command) {
    case 'start': {
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) {
        console.error(`--port: "${values.port}" is not a port number`);
        return 2;
      }
      await startCommand({ workspace: values.workspace ?? positionals[0] ?? 'workspace', port, host: values.host, env });
      return -1; // keeps running
    }
    case 'init':
      if (!positionals[0]) {
        console.error('usage: cococat init DIR');
        return 2;
      }
      initCommand(positionals[0], env);
      return 0;
    case 'check':
      return checkCommand(positionals[0] ?? values.workspace ?? 'workspace', env);
    case 'send': {
      const [entryKey, ...words] = positionals;
      if (!entryKey || (words.length === 0 && !values.attach?.length)) {
        console.error('usage: cococat send <entry> <text> [--attach FILE]...');
        return 2;
      }
      return sendCommand({
        workspace: values.workspace ?? 'workspace', entryKey, text: words.join(' '), attach: values.attach, userId: values.user ?? 'cli', url: values.url, env,
      });
    }
    case 'login': {
      if (!positionals[0]) {
        console.error('usage: cococat login <entry>   e.g. cococat login assistant.wechat_ilink');
        return 2;
      }
      const { loginCommand } = await import('./commands/login.js');
      const interrupted = new AbortController();
      process.once('SIGINT', () => interrupted.abort());
      return loginCommand({ workspace: values.workspace ?? 'workspace', entryKey: positionals[0], url: values.url, env, print: (line) => console.log(line), signal: interrupted.signal });
    }
    case 'status': {
      const { statusCommand } = await import('./commands/entries.js');
      return statusCommand({ workspace: values.workspace ?? 'workspace', url: values.url, env, print: (line) => console.log(line) });
    }
    case 'stats': {
      const { statsCommand } = await import('./commands/stats.js');
      return statsCommand({
        workspace: values.workspace ?? 'workspace', url: values.url, env, print: (line) => console.log(line),
        days: values.days, entryKey: values.entry, timeZone: values.timezone,
      });
    }
    case 'restart': {
      if (!positionals[0]) {
        console.error('usage: cococat restart <entry>   e.g. cococat restart assistant.feishu');
        return 2;
      }
      const { restartCommand } = await import('./commands/entries.js');
      return restartCommand({ workspace: values.workspace ?? 'workspace', entryKey: positionals[0], url: values.url, env, print: (line) => console.log(line) });
    }
    case 'forget': {
      if (!positionals[0] || !positionals[1]) {
        console.error('usage: cococat forget <entry> <userId>   e.g. cococat forget assistant.web_api alice');
        return 2;
      }
      const { forgetCommand } = await import('./commands/entries.js');
      return forgetCommand({ workspace: values.workspace ?? 'workspace', entryKey: positionals[0], userId: positionals[1], url: values.url, env, print: (line) => console.log(line) });
    }
    case 'pairing': {
      const [action = 'list', code] = positionals;
      if (!['list', 'approve', 'reject'].includes(action) || (action !== 'list' && !code)) {
        console.error('usage: cococat pairing [list | approve CODE | reject CODE]   e.g. cococat pairing approve ABCD-EFGH');
        return 2;
      }
      const { pairingCommand } = await import('./commands/pairing.js');
      return pairingCommand({ workspace: values.workspace ?? 'workspace', action, code, url: values.url, env, print: (line) => console.log(line) });
    }
    case 'export': {
      const { exportCommand } = await import('./commands/export.js');
      return exportCommand({
        workspace: values.workspace ?? 'workspace',
        url: values.url,
        env,
        filter: { entry: values.entry, userId: values.user, text: values.text, since: values.since, until: values.until, limit: values.limit },
        out: process.stdout,
        print: (line) => console.error(line),
      });
    }
    case 'backup': {
      if (!positionals[0]) {
        console.error('usage: cococat backup DEST [--workspace DIR]   e.g. cococat backup backups/2026-12-07');
        return 2;
      }
      const { backupCommand } = await import('./commands/backup.js');
      return backupCommand({ workspace: values.workspace ?? 'workspace', dest: positionals[0], env, print: (line) => console.log(line) });
    }
    case 'simulate': {
      if (!positionals[0]) {
        console.error('usage: cococat simulate wechat_mp|wechat_ilink|feishu|wecom|wecom_bot [--agent ID]');
        return 2;
      }
      // The fake platforms load only for this command, not on every start.
      const { simulateCommand } = await import('./commands/simulate.js');
      return simulateCommand({
        workspace: values.workspace ?? 'workspace',
        channel: positionals[0],
        agent: values.agent ?? 'assistant',
        ...(values.user === undefined ? {} : { user: values.user }),
        env,
        input: process.stdin,
        print: (line) => console.log(line),
      });
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

export function run(): void {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      console.error(`cococat: ${describeError(err)}`);
      process.exit(1);
    },
  );
}
