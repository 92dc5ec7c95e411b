// (e) Start-up: from spawning `node bin/cococat.js start --workspace <fresh copy> --port 0` to the
// "ready" log line with the address, median of RUNS; plus the readyMs the gateway logs itself
// (measured inside the process from the start command to listening, so it leaves out Node's own
// boot and module loading).
import { median, round, type BenchOptions } from './lib/common.js';
import { startGateway } from './lib/child.js';
import { benchWorkspace, copyWorkspace, removeWorkspace } from './lib/workspace.js';

const RUNS = 5;

export interface StartupFigures {
  runs: number;
  spawnToReadyMs: number[];
  medianSpawnToReadyMs: number;
  readyMs: (number | undefined)[];
  medianReadyMs: number;
  /** Peak RSS of the idle gateway right after start-up. */
  idlePeakRssMb: number | undefined;
}

export async function startup(opts: BenchOptions): Promise<StartupFigures> {
  const template = benchWorkspace();
  const spawnToReady: number[] = [];
  const logged: (number | undefined)[] = [];
  let idlePeakRssMb: number | undefined;
  try {
    for (let i = 0; i < RUNS; i++) {
      const root = copyWorkspace(template);
      try {
        const gw = await startGateway(root, { source: opts.source });
        try {
          spawnToReady.push(round(gw.spawnToReadyMs));
          logged.push(gw.ready.readyMs);
          idlePeakRssMb = gw.peakRssMb();
        } finally {
          await gw.stop();
        }
      } finally {
        removeWorkspace(root);
      }
    }
  } finally {
    removeWorkspace(template);
  }
  return {
    runs: RUNS,
    spawnToReadyMs: spawnToReady,
    medianSpawnToReadyMs: median(spawnToReady),
    readyMs: logged,
    medianReadyMs: median(logged.filter((n): n is number => n !== undefined)),
    idlePeakRssMb,
  };
}
