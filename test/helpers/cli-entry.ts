// Runs the CLI from source, for tests that start a gateway as a child process.
import { run } from '../../src/cli/main.js';

run();
