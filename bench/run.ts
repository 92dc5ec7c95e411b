// Runs the benchmark scenarios in sequence, prints a table and one JSON object, and writes the
// JSON to bench/out/latest.json.
//
//   npm run bench                          full run (30 s phases)
//   node --import tsx bench/run.ts --quick 3 s phases, for trying things out
//   ... --only ingress,baseline            some scenarios (their letters a-m work too)
//   (m) runs when COCOCAT_BENCH_PG_URL or COCOCAT_TEST_PG_URL names a PostgreSQL database
//   ... --source                           gateway from src/ via tsx instead of dist/
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseline } from './baseline.js';
import { endToEnd, endToEndShared } from './end-to-end.js';
import { feishu } from './feishu.js';
import { ingress } from './ingress.js';
import { distIsStale, ROOT } from './lib/child.js';
import type { LoadFigures } from './lib/load.js';
import { machineInfo, median, pairedRounds, round, type BenchOptions } from './lib/common.js';
import { openaiPath } from './openai-path.js';
import { startup } from './startup.js';
import { storeWork } from './store.js';
import { wechatIlink } from './wechat-ilink.js';
import { wechatIngress } from './wechat-ingress.js';
import { wecomIngress } from './wecom-ingress.js';
import { wecomBot } from './wecom-bot.js';

// Run order: each ratio's two figures are measured back to back (c, a, then the webhook ingresses
// compared with a; b, then j and l compared with b), because the machine's speed drifts within a run.
const SCENARIOS = {
  baseline: { letter: 'c', run: baseline },
  ingress: { letter: 'a', run: ingress },
  'wechat-ingress': { letter: 'g', run: wechatIngress },
  'wecom-ingress': { letter: 'i', run: wecomIngress },
  feishu: { letter: 'h', run: feishu },
  'end-to-end': { letter: 'b', run: endToEnd },
  'end-to-end-pg': { letter: 'm', run: endToEndShared },
  'wecom-bot': { letter: 'j', run: wecomBot },
  'wechat-ilink': { letter: 'l', run: wechatIlink },
  openai: { letter: 'd', run: openaiPath },
  startup: { letter: 'e', run: startup },
  store: { letter: 'k', run: storeWork },
} as const;
type Name = keyof typeof SCENARIOS;
/** Compared with each other (a/c, g/a): measured in interleaved rounds, c a g c a g … */
const PAIRED: readonly Name[] = ['baseline', 'ingress', 'wechat-ingress'];
const ALIASES: Record<string, Name> = { e2e: 'end-to-end', 'openai-path': 'openai' };

function parseArgs(argv: string[]): { opts: BenchOptions; only: Set<Name> } {
  const opts: BenchOptions = { quick: argv.includes('--quick'), source: argv.includes('--source') };
  const r = argv.indexOf('--rounds');
  if (r >= 0) {
    const rounds = Number(argv[r + 1]);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a whole number >= 1');
    opts.rounds = rounds;
  }
  const names = Object.keys(SCENARIOS) as Name[];
  const i = argv.indexOf('--only');
  const eq = argv.find((a) => a.startsWith('--only='));
  const list = eq ? eq.slice(7) : i >= 0 ? argv[i + 1] : undefined;
  const hasPg = Boolean(process.env.COCOCAT_BENCH_PG_URL ?? process.env.COCOCAT_TEST_PG_URL);
  if (list === undefined) return { opts, only: new Set(names.filter((n) => hasPg || n !== 'end-to-end-pg')) };
  const only = new Set<Name>();
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const name = names.find((n) => n === raw || SCENARIOS[n].letter === raw) ?? ALIASES[raw];
    if (raw === 'f' || raw === 'rss') {
      only.add('ingress');
      only.add('end-to-end');
    } else if (name) only.add(name);
    else throw new Error(`unknown scenario "${raw}"; use ${names.join(', ')} (or their letters a-m)`);
  }
  return { opts, only };
}

interface Row {
  figure: string;
  value: string;
  target: string;
  result: 'PASS' | 'MISS' | '' | 'ERROR';
}

function check(ok: boolean | undefined): Row['result'] {
  return ok === undefined ? '' : ok ? 'PASS' : 'MISS';
}

/** The rows of an end-to-end run (b, m): the sustained rate (against `target`, if any), latency, lost and duplicate replies. */
function endToEndRows(title: string, f: Awaited<ReturnType<typeof endToEnd>>, target?: number): Row[] {
  const letter = title.slice(0, 2);
  return [
    { figure: `${title} msg/s (sustained)`, value: `${f.msgPerSec} (seconds: ${f.minSecond}-${f.maxSecond})`, target: target ? `>= ${target}` : '', result: target ? check(f.msgPerSec >= target) : '' },
    { figure: `${letter} send → reply latency p50 / p99`, value: `${f.latencyP50Ms} / ${f.latencyP99Ms} ms`, target: '', result: '' },
    {
      figure: `${letter} lost / duplicate replies`,
      value: `${f.lost} / ${f.duplicates} of ${f.accepted}`,
      target: '0 / 0',
      result: check(f.lost === 0 && f.duplicates === 0 && f.unexpected === 0 && f.postFailures === 0),
    },
  ];
}

async function main(): Promise<void> {
  const { opts, only } = parseArgs(process.argv.slice(2));
  const stale = !opts.source && distIsStale();
  if (stale) console.warn('warning: dist/ is older than src/; `npm run bench` rebuilds it first (or pass --source)');
  console.log(`CocoCat benchmark (${opts.quick ? 'quick' : 'full'}${opts.source ? ', gateway from src/ via tsx' : ''}): ${[...only].join(', ')}`);

  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const runOne = async (name: Name, label: string, runOpts: BenchOptions): Promise<unknown> => {
    const t0 = performance.now();
    process.stdout.write(`  ${SCENARIOS[name].letter}) ${name}${label} ... `);
    try {
      const figures = await SCENARIOS[name].run(runOpts);
      console.log(`done in ${round((performance.now() - t0) / 1000)} s`);
      return figures;
    } catch (err) {
      errors[name] ??= (err as Error).stack ?? String(err);
      console.log(`FAILED: ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };

  const paired = PAIRED.filter((name) => only.has(name));
  const { rounds, seconds } = pairedRounds(opts);
  const perRound: Partial<Record<Name, LoadFigures[]>> = {};
  for (let r = 1; r <= rounds && paired.length > 0; r++) {
    for (const name of paired) {
      const figures = (await runOne(name, rounds > 1 ? ` (round ${r}/${rounds})` : '', { ...opts, phaseSeconds: seconds })) as LoadFigures | undefined;
      (perRound[name] ??= []).push(figures ?? failedRound);
    }
  }
  for (const name of paired) {
    const list = perRound[name]!.filter((f) => f !== failedRound);
    if (list.length === 0) continue;
    // The round with the median rate stands for the scenario; every round's rate is kept beside it.
    const sorted = [...list].sort((x, y) => x.okPerSec - y.okPerSec);
    const rss = list.map((f) => (f as { peakRssMb?: number }).peakRssMb).filter((n): n is number => n !== undefined);
    results[name] = {
      ...sorted[Math.floor((sorted.length - 1) / 2)],
      ...(rss.length > 0 ? { peakRssMb: Math.max(...rss) } : {}),
      roundsOkPerSec: perRound[name]!.map((f) => (f === failedRound ? null : f.okPerSec)),
    };
  }
  for (const name of Object.keys(SCENARIOS) as Name[]) {
    if (!only.has(name) || PAIRED.includes(name)) continue;
    const figures = await runOne(name, '', opts);
    if (figures !== undefined) results[name] = figures;
  }

  const a = results.ingress as Awaited<ReturnType<typeof ingress>> | undefined;
  const b = results['end-to-end'] as Awaited<ReturnType<typeof endToEnd>> | undefined;
  const c = results.baseline as Awaited<ReturnType<typeof baseline>> | undefined;
  const d = results.openai as Awaited<ReturnType<typeof openaiPath>> | undefined;
  const e = results.startup as Awaited<ReturnType<typeof startup>> | undefined;
  const g = results['wechat-ingress'] as Awaited<ReturnType<typeof wechatIngress>> | undefined;
  const i = results['wecom-ingress'] as Awaited<ReturnType<typeof wecomIngress>> | undefined;
  const h = results.feishu as Awaited<ReturnType<typeof feishu>> | undefined;
  const j = results['wecom-bot'] as Awaited<ReturnType<typeof wecomBot>> | undefined;
  const k = results.store as Awaited<ReturnType<typeof storeWork>> | undefined;
  const l = results['wechat-ilink'] as Awaited<ReturnType<typeof wechatIlink>> | undefined;
  const m = results['end-to-end-pg'] as Awaited<ReturnType<typeof endToEndShared>> | undefined;
  const ratio = roundRatios(perRound.ingress, perRound.baseline);
  const wechatShare = roundRatios(perRound['wechat-ingress'], perRound.ingress);
  const rssSamples = [a?.peakRssMb, b?.peakRssMb].filter((n): n is number => n !== undefined);
  const peakRssMb = rssSamples.length > 0 ? Math.max(...rssSamples) : undefined;

  const rows: Row[] = [];
  const err = (name: Name, figure: string) => errors[name] && rows.push({ figure, value: 'failed', target: '', result: 'ERROR' });
  if (a) {
    rows.push({ figure: 'a) ingress: 202 answers/s', value: `${a.okPerSec}`, target: '>= 5000', result: check(a.okPerSec >= 5000) });
    rows.push({ figure: 'a) ingress latency p50 / p99', value: `${a.latencyP50Ms} / ${a.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({ figure: 'a) ingress non-2xx / errors', value: `${a.non2xx} / ${a.errors + a.timeouts}`, target: '0', result: check(a.non2xx + a.errors + a.timeouts === 0) });
  } else err('ingress', 'a) ingress');
  if (c) rows.push({ figure: 'c) bare node:http req/s', value: `${c.okPerSec}`, target: '', result: '' });
  else err('baseline', 'c) baseline');
  if (ratio !== undefined) rows.push({ figure: 'a/c) ingress vs node:http (median of rounds)', value: ratioText(ratio), target: '>= 35 %', result: check(ratio.median >= 0.35) });
  if (b) rows.push(...endToEndRows('b) end-to-end', b, 2000));
  else err('end-to-end', 'b) end-to-end');
  if (d) {
    rows.push({ figure: 'd) openai ?wait=true p50 / p99', value: `${d.sequential.p50Ms} / ${d.sequential.p99Ms} ms`, target: 'p50 <= 5 ms', result: check(d.sequential.failures === 0 && d.sequential.p50Ms <= 5) });
    rows.push({
      figure: 'd) streamed: first words / answer p50 (p99)',
      value: `${d.streamed.firstTextP50Ms} / ${d.streamed.replyP50Ms} ms (${d.streamed.firstTextP99Ms} / ${d.streamed.replyP99Ms})`,
      target: 'no failures',
      result: check(d.streamed.failures === 0),
    });
    rows.push({ figure: 'd) openai ?wait=true req/s (50 conn)', value: `${d.load.okPerSec} (p99 ${d.load.latencyP99Ms} ms)`, target: '>= 1000', result: check(d.load.okPerSec >= 1000) });
    const loadOther = Object.values(d.load.otherStatus).reduce((n, k) => n + k, 0);
    rows.push({
      figure: 'd) openai failures (seq / load non-200 / errors)',
      value: `${d.sequential.failures} / ${loadOther} / ${d.load.errors + d.load.timeouts}`,
      target: '0',
      result: check(d.sequential.failures === 0 && loadOther === 0 && d.load.errors + d.load.timeouts === 0),
    });
  } else err('openai', 'd) openai path');
  if (e) {
    rows.push({ figure: 'e) spawn → ready (median of 5)', value: `${e.medianSpawnToReadyMs} ms`, target: '< 1000 ms', result: check(e.medianSpawnToReadyMs < 1000) });
    rows.push({ figure: 'e) readyMs logged by gateway (median)', value: `${e.medianReadyMs} ms`, target: '', result: '' });
  } else err('startup', 'e) startup');
  if (g) {
    rows.push({ figure: 'g) wechat_mp safe-mode ingress: 200 answers/s', value: `${g.okPerSec}`, target: '', result: '' });
    rows.push({ figure: 'g) wechat_mp ack latency p50 / p99', value: `${g.latencyP50Ms} / ${g.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({ figure: 'g) wechat_mp non-2xx / errors', value: `${g.non2xx} / ${g.errors + g.timeouts}`, target: '0', result: check(g.non2xx + g.errors + g.timeouts === 0) });
    if (wechatShare !== undefined) {
      rows.push({ figure: 'g/a) wechat_mp vs web_api ingress (median of rounds)', value: ratioText(wechatShare), target: '>= 50 %', result: check(wechatShare.median >= 0.5) });
    }
  } else err('wechat-ingress', 'g) wechat_mp ingress');
  if (h) {
    const lc = h.longConnection;
    rows.push({ figure: 'h) feishu long connection: events answered/s', value: `${lc.eventsPerSec} (seconds: ${lc.minSecond}-${lc.maxSecond})`, target: '', result: '' });
    rows.push({ figure: 'h) feishu push → reply latency p50 / p99', value: `${lc.latencyP50Ms} / ${lc.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({
      figure: 'h) feishu lost / duplicate replies',
      value: `${lc.lost} / ${lc.duplicates} of ${lc.pushed}`,
      target: '0 / 0',
      result: check(lc.lost === 0 && lc.duplicates === 0 && lc.unexpected === 0),
    });
    rows.push({ figure: 'h) feishu webhook ingress: 200 answers/s', value: `${h.webhook.okPerSec}`, target: '', result: '' });
    rows.push({ figure: 'h) feishu webhook ack latency p50 / p99', value: `${h.webhook.latencyP50Ms} / ${h.webhook.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({ figure: 'h) feishu webhook non-2xx / errors', value: `${h.webhook.non2xx} / ${h.webhook.errors + h.webhook.timeouts}`, target: '0', result: check(h.webhook.non2xx + h.webhook.errors + h.webhook.timeouts === 0) });
    if (a && a.okPerSec > 0) rows.push({ figure: 'h/a) feishu webhook vs web_api ingress', value: `${round((h.webhook.okPerSec / a.okPerSec) * 100)} %`, target: '', result: '' });
  } else err('feishu', 'h) feishu');
  if (i) {
    rows.push({ figure: 'i) wecom app callback ingress (encrypted): 200 answers/s', value: `${i.okPerSec}`, target: '', result: '' });
    rows.push({ figure: 'i) wecom ack latency p50 / p99', value: `${i.latencyP50Ms} / ${i.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({ figure: 'i) wecom non-2xx / errors', value: `${i.non2xx} / ${i.errors + i.timeouts}`, target: '0', result: check(i.non2xx + i.errors + i.timeouts === 0) });
    if (a && a.okPerSec > 0) rows.push({ figure: 'i/a) wecom callback vs web_api ingress', value: `${round((i.okPerSec / a.okPerSec) * 100)} %`, target: '', result: '' });
  } else err('wecom-ingress', 'i) wecom ingress');
  if (j) {
    rows.push({ figure: 'j) wecom_bot long connection: messages answered/s', value: `${j.messagesPerSec}`, target: '', result: '' });
    rows.push({ figure: 'j) wecom_bot callback → finished stream p50 / p99', value: `${j.latencyP50Ms} / ${j.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({
      figure: 'j) wecom_bot lost / duplicate answers',
      value: `${j.lost} / ${j.duplicates} of ${j.pushed}`,
      target: '0 / 0',
      result: check(j.lost === 0 && j.duplicates === 0 && j.refused === 0),
    });
    if (b && b.msgPerSec > 0) rows.push({ figure: 'j/b) wecom_bot vs web_api end to end', value: `${round((j.messagesPerSec / b.msgPerSec) * 100)} %`, target: '', result: '' });
  } else err('wecom-bot', 'j) wecom_bot');
  if (l) {
    rows.push({ figure: 'l) wechat_ilink long poll: messages answered/s', value: `${l.messagesPerSec} (seconds: ${l.minSecond}-${l.maxSecond})`, target: '', result: '' });
    rows.push({ figure: 'l) wechat_ilink message → reply p50 / p99', value: `${l.latencyP50Ms} / ${l.latencyP99Ms} ms`, target: '', result: '' });
    rows.push({
      figure: 'l) wechat_ilink lost / duplicate replies',
      value: `${l.lost} / ${l.duplicates} of ${l.pushed}`,
      target: '0 / 0',
      result: check(l.lost === 0 && l.duplicates === 0 && l.unexpected === 0),
    });
    if (b && b.msgPerSec > 0) rows.push({ figure: 'l/b) wechat_ilink vs web_api end to end', value: `${round((l.messagesPerSec / b.msgPerSec) * 100)} %`, target: '', result: '' });
  } else err('wechat-ilink', 'l) wechat_ilink');
  if (m) {
    rows.push(...endToEndRows('m) end-to-end, 2 processes on PostgreSQL,', m));
    if (b && b.msgPerSec > 0) rows.push({ figure: 'm/b) PostgreSQL, 2 processes vs SQLite, 1', value: `${round((m.msgPerSec / b.msgPerSec) * 100)} %`, target: '', result: '' });
  } else err('end-to-end-pg', 'm) end-to-end on PostgreSQL');
  if (k) {
    const { sequential, random } = k;
    const pair = (f: (p: typeof sequential) => number) => `${f(sequential)} / ${f(random)}`;
    rows.push({ figure: 'k) store CPU µs/msg, enqueue (sequential / random ids)', value: pair((p) => p.enqueue.cpuUsPerMsg), target: '', result: '' });
    rows.push({ figure: 'k) store CPU µs/msg, answer (sequential / random ids)', value: pair((p) => p.answer.cpuUsPerMsg), target: '', result: '' });
    rows.push({ figure: 'k) main thread alone, enqueue / answer (sequential)', value: `${k.sequential.enqueue.mainThreadUsPerMsg} / ${k.sequential.answer.mainThreadUsPerMsg}`, target: '', result: '' });
    rows.push({ figure: `k) log search reading all ${k.sequential.answer.messages} messages, ms (sequential / random ids)`, value: pair((p) => p.searchAllMs), target: '', result: '' });
    rows.push({ figure: `k) 7 days counted over all ${k.sequential.answer.messages} messages, ms (sequential / random ids)`, value: pair((p) => p.daysAllMs), target: '', result: '' });
  } else err('store', 'k) store');
  if (peakRssMb !== undefined) rows.push({ figure: 'f) peak RSS (VmHWM, max of a, b)', value: `${peakRssMb} MB`, target: '< 200 MB', result: check(peakRssMb < 200) });

  const w = ['Figure'.length, 'Value'.length, 'Target'.length];
  for (const r of rows) [r.figure, r.value, r.target].forEach((s, i) => (w[i] = Math.max(w[i]!, s.length)));
  const line = (cols: string[]) => cols.map((s, i) => s.padEnd(w[i] ?? 0)).join('  ');
  console.log('');
  console.log(line(['Figure', 'Value', 'Target', 'Result']));
  console.log(line(w.map((n) => '-'.repeat(n)).concat('------')));
  for (const r of rows) console.log(line([r.figure, r.value, r.target, r.result]));

  const report = {
    mode: opts.quick ? 'quick' : 'full',
    gateway: opts.source ? 'src via tsx' : 'dist',
    distStale: stale,
    machine: machineInfo(),
    summary: {
      ingressPerSec: a?.okPerSec,
      baselinePerSec: c?.okPerSec,
      ingressVsBaseline: ratio === undefined ? undefined : round(ratio.median, 3),
      ingressVsBaselineRounds: ratio?.rounds.map((x) => round(x, 3)),
      wechatVsIngress: wechatShare === undefined ? undefined : round(wechatShare.median, 3),
      wechatVsIngressRounds: wechatShare?.rounds.map((x) => round(x, 3)),
      endToEndPerSec: b?.msgPerSec,
      endToEndLost: b?.lost,
      endToEndDuplicates: b?.duplicates,
      openaiP50Ms: d?.sequential.p50Ms,
      openaiP99Ms: d?.sequential.p99Ms,
      openaiPerSec: d?.load.okPerSec,
      startupMedianMs: e?.medianSpawnToReadyMs,
      startupReadyMsMedian: e?.medianReadyMs,
      peakRssMb,
      wechatIngressPerSec: g?.okPerSec,
      wechatAckP99Ms: g?.latencyP99Ms,
      feishuEventsPerSec: h?.longConnection.eventsPerSec,
      feishuWebhookPerSec: h?.webhook.okPerSec,
      wecomIngressPerSec: i?.okPerSec,
      wecomBotPerSec: j?.messagesPerSec,
      wechatIlinkPerSec: l?.messagesPerSec,
      storeEnqueueUsPerMsg: k?.sequential.enqueue.cpuUsPerMsg,
      storeAnswerUsPerMsg: k?.sequential.answer.cpuUsPerMsg,
    },
    checks: Object.fromEntries(rows.filter((r) => r.result !== '').map((r) => [r.figure, r.result])),
    scenarios: results,
    errors,
  };
  const json = JSON.stringify(report, null, 2);
  console.log('');
  console.log(json);
  const outDir = join(ROOT, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), json + '\n');
  for (const [name, stack] of Object.entries(errors)) console.error(`\n${name} failed:\n${stack}`);
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

/** A failed round keeps its place, so the rounds of two scenarios still pair up. */
const failedRound: LoadFigures = Object.freeze({ okPerSec: NaN }) as unknown as LoadFigures;

/** Per-round ratios of two paired scenarios (rounds where either failed are left out) and their median. */
function roundRatios(top: LoadFigures[] | undefined, bottom: LoadFigures[] | undefined): { median: number; rounds: number[] } | undefined {
  if (!top || !bottom) return undefined;
  const rounds = top.map((t, i) => t.okPerSec / (bottom[i]?.okPerSec ?? NaN)).filter((x) => Number.isFinite(x));
  return rounds.length === 0 ? undefined : { median: median(rounds), rounds };
}

function ratioText(r: { median: number; rounds: number[] }): string {
  const each = r.rounds.length > 1 ? ` (rounds: ${r.rounds.map((x) => round(x * 100)).join(', ')})` : '';
  return `${round(r.median * 100)} %${each}`;
}

await main();
