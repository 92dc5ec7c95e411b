import { afterAll } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { startChildGateway, type ChildGateway } from './child-gateway.js';
import { makeWorkspace, removeWorkspace } from './workspace.js';

/**
 * What every channel's crash test shares: a fake LLM that holds each answer for 3 s (the agent
 * is still thinking when the gateway dies), a workspace with one `openai` agent "bot" fed by the
 * channel's entry and a 1 s lease, the gateway as a child process to SIGKILL and start again, and
 * cleanup of all of it (and of the fake platform handed to `own`) after the suite.
 */
export interface CrashRig {
  /** Closes `thing` (the fake platform) after the suite; returns it. */
  own<T extends { close(): Promise<unknown> }>(thing: T): T;
  /** Starts the slow LLM, writes the workspace around `entry` and starts the gateway. */
  start(entry: Record<string, unknown>): Promise<ChildGateway>;
  kill(): Promise<void>;
  /** Starts the gateway again on the same workspace; from now on the LLM answers at once. */
  restart(): Promise<ChildGateway>;
}

export function crashRig(): CrashRig {
  let llm: FakeLlm | undefined;
  let gateway: ChildGateway | undefined;
  let root: string | undefined;
  const owned: { close(): Promise<unknown> }[] = [];
  afterAll(async () => {
    try {
      await gateway?.kill('SIGKILL');
      for (const thing of owned.reverse()) await thing.close();
      await llm?.close();
    } finally {
      if (root) removeWorkspace(root);
    }
  });
  return {
    own(thing) {
      owned.push(thing);
      return thing;
    },
    async start(entry) {
      llm = await startFakeLlm({ delayMs: 3_000 });
      root = makeWorkspace({
        settings: { limits: { lease_ms: 1_000 } },
        agents: { bot: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', retries: 0 }, entries: [entry] } },
      });
      gateway = await startChildGateway(root);
      return gateway;
    },
    async kill() {
      await gateway?.kill('SIGKILL');
    },
    async restart() {
      if (!root || !llm) throw new Error('start() first');
      llm.delayMs = 0;
      gateway = await startChildGateway(root);
      return gateway;
    },
  };
}
