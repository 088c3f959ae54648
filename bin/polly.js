#!/usr/bin/env node
// The `polly` command (src/polly-command.ts); the server's modules load only for the commands that run it.

// Volume work is file-system work: give libuv's thread pool room for many concurrent fsyncs.
// Set before anything touches the pool (it is created on first use).
process.env.UV_THREADPOOL_SIZE ??= '32';

try {
  const { runPolly } = await import('../dist/src/polly-command.js');
  await runPolly(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
