#!/usr/bin/env node
// The `polly` command. The composition root (src/main.ts) wires the server into the CLI.
import { main } from '../dist/src/main.js';

try {
  await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
