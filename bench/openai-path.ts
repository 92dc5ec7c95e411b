// (d) The openai agent path: web_api ?wait=true → mailbox → heartbeat → openai agent → a fake
// OpenAI-compatible server answering instantly (its own child process) → outbox → the held
// request. Measures the gateway's own overhead per conversation turn; then the same turns asking for
// the answer as an event stream (the model streams): how soon the first words show, and the answer.
import { Agent } from 'node:http';
import { percentile, phaseSeconds, round, warmupSeconds, type BenchOptions } from './lib/common.js';
import { startGateway, startHelper } from './lib/child.js';
import { httpRequest, streamedAnswer } from './lib/http.js';
import { runLoad, type LoadFigures } from './lib/load.js';
import { authHeaders, benchWorkspace, ENTRY, removeWorkspace } from './lib/workspace.js';

const WARMUP_REQUESTS = 50;
const SEQUENTIAL_REQUESTS = 200;

export interface OpenAIPathFigures {
  sequential: { requests: number; p50Ms: number; p99Ms: number; maxMs: number; failures: number; firstFailure?: string };
  /** The same turns asking for the answer as an event stream (the model then streams): first words and whole answer. */
  streamed: { requests: number; firstTextP50Ms: number; firstTextP99Ms: number; replyP50Ms: number; replyP99Ms: number; failures: number; firstFailure?: string };
  load: LoadFigures;
  peakRssMb: number | undefined;
}

export async function openaiPath(opts: BenchOptions): Promise<OpenAIPathFigures> {
  const llm = await startHelper('servers/fake-llm.ts');
  let root: string | undefined;
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    root = benchWorkspace({ provider: 'openai', model: 'fake-model', base_url: llm.ready, api_key: 'bench-key' });
    gw = await startGateway(root, { source: opts.source });
    const url = `${gw.ready.baseUrl}/api/v1/chat/${ENTRY}?wait=true`;

    // Sequential turns, each from a new user (so every turn is the first of its conversation).
    const times: number[] = [];
    let failures = 0;
    let firstFailure: string | undefined;
    for (let i = 0; i < WARMUP_REQUESTS + SEQUENTIAL_REQUESTS; i++) {
      const t0 = performance.now();
      const res = await httpRequest(agent, url, {
        method: 'POST',
        headers: authHeaders,
        body: JSON.stringify({ userId: `seq-${i}`, content: `question ${i}` }),
      });
      const ms = performance.now() - t0;
      const ok = res.status === 200 && (JSON.parse(res.body) as { reply?: { text?: string } }).reply?.text === `reply to: question ${i}`;
      if (i < WARMUP_REQUESTS) continue;
      if (ok) times.push(ms);
      else {
        failures++;
        firstFailure ??= `HTTP ${res.status} ${res.body.slice(0, 200)}`;
      }
    }
    times.sort((a, b) => a - b);

    // The same turns, streamed: the fake model sends its answer word by word, at once.
    const firstText: number[] = [];
    const whole: number[] = [];
    let streamFailures = 0;
    let firstStreamFailure: string | undefined;
    for (let i = 0; i < WARMUP_REQUESTS + SEQUENTIAL_REQUESTS; i++) {
      const res = await streamedAnswer(agent, url, { headers: authHeaders, body: JSON.stringify({ userId: `stream-${i}`, content: `question ${i}` }) });
      if (i < WARMUP_REQUESTS) continue;
      if (res.status === 200 && res.replyText === `reply to: question ${i}` && res.firstPartialMs !== undefined && res.replyMs !== undefined) {
        firstText.push(res.firstPartialMs);
        whole.push(res.replyMs);
      } else {
        streamFailures++;
        firstStreamFailure ??= `HTTP ${res.status}, partial ${res.firstPartialMs === undefined ? 'missing' : 'seen'}, reply ${JSON.stringify(res.replyText)}`;
      }
    }
    firstText.sort((a, b) => a - b);
    whole.sort((a, b) => a - b);

    // Throughput: 50 connections, a new user per request so conversations run in parallel.
    const load = await runLoad({
      url,
      method: 'POST',
      headers: authHeaders,
      body: '{"userId":"load-[<id>]","content":"hello"}',
      seconds: phaseSeconds(opts),
      warmupSeconds: warmupSeconds(opts),
      okStatus: 200,
    });
    return {
      sequential: {
        requests: SEQUENTIAL_REQUESTS,
        p50Ms: round(percentile(times, 50), 2),
        p99Ms: round(percentile(times, 99), 2),
        maxMs: round(times[times.length - 1] ?? NaN, 2),
        failures,
        firstFailure,
      },
      streamed: {
        requests: SEQUENTIAL_REQUESTS,
        firstTextP50Ms: round(percentile(firstText, 50), 2),
        firstTextP99Ms: round(percentile(firstText, 99), 2),
        replyP50Ms: round(percentile(whole, 50), 2),
        replyP99Ms: round(percentile(whole, 99), 2),
        failures: streamFailures,
        firstFailure: firstStreamFailure,
      },
      load,
      peakRssMb: gw.peakRssMb(),
    };
  } finally {
    agent.destroy();
    await gw?.stop();
    await llm.stop();
    if (root) removeWorkspace(root);
  }
}
