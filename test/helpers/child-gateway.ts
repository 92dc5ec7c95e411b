import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./cli-entry.ts', import.meta.url));

export interface ChildGateway {
  process: ChildProcess;
  baseUrl: string;
  /** Everything the child printed, for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `cococat start` in a child process on a free port and waits until it is ready. */
export async function startChildGateway(workspace: string, env: Record<string, string> = {}): Promise<ChildGateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'start', '--workspace', workspace, '--port', '0'], {
    env: { ...process.env, COCOCAT_LOG_FORMAT: 'json', COCOCAT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not ready in 20 s:\n${out}`)), 20_000);
    const onData = () => {
      const match = /"address":"(http:\/\/[^"]+)"/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${out}`)));
  });
  return {
    process: child,
    baseUrl,
    output: () => out,
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
