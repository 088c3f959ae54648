#!/usr/bin/env node
// The `polly` command. The composition root (src/main.ts) wires the server into the CLI.

// Volume work is file-system work: give libuv's thread pool room for many concurrent fsyncs.
// Set before anything touches the pool (it is created on first use).
process.env.UV_THREADPOOL_SIZE ??= '32';

try {
  const { main } = await import('../dist/src/main.js');
  await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
