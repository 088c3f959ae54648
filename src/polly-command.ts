import type { CliHooks } from './cli/app.js';
import { runCli } from './cli/main.js';

/**
 * The `polly` command. Client commands need only the CLI and the REST client; the commands that
 * run Polly itself (server, agent, store migration) load the composition root (main.ts: stores,
 * drivers, front doors) when one of them runs, so `polly volume get` starts in a fraction of the
 * time. `Required` makes the compiler insist that every hook is wired here.
 */
const compositionRoot = () => import('./main.js');

export const lazyHooks: Required<CliHooks> = {
  startServer: async (opts) => (await compositionRoot()).hooks.startServer(opts),
  startAgent: async (opts) => (await compositionRoot()).hooks.startAgent(opts),
  migrateStore: async (opts, onProgress) => (await compositionRoot()).hooks.migrateStore(opts, onProgress),
};

export async function runPolly(argv: string[]): Promise<void> {
  const code = await runCli(argv, undefined, lazyHooks);
  if (code !== 0) process.exitCode = code;
}
