#!/usr/bin/env -S node --max-old-space-size=1024
// The explicit old-space cap is a memory setting, not only a limit: with V8's default cap (a
// quarter of the machine's memory) the heap grows far beyond the ~25 MB the gateway keeps live,
// and peak RSS under load is ~215 MB instead of ~145 MB. Running `node bin/cococat.js` skips it;
// `node --max-old-space-size=N bin/cococat.js` picks another cap.
import { run } from '../dist/src/cli/main.js';

run();
