/** Entry of the `polly` command: parse, run, report, and answer an exit status (never exits). */
import { CommanderError } from 'commander';
import { ApiError, ConnectionError } from '../client/errors.js';
import { InvalidHostError } from '../client/endpoint.js';
import type { CliHooks } from './app.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { processIo, type CliIo } from './io.js';
import { toYaml } from './output.js';
import { buildProgram } from './program.js';

export type { CliHooks, ServerStartOptions } from './app.js';
export type { CliIo } from './io.js';

/**
 * Runs `polly <argv…>` (argv without the node and script paths) and resolves with the exit
 * status: 0 ok, 1 failure, 2 usage error. Output goes to `io` (default: the process's streams).
 */
export async function runCli(argv: string[], io: CliIo = processIo(), hooks: CliHooks = {}): Promise<number> {
  const program = buildProgram(io, hooks);
  const debug = argv.some((a, i) => a === '--logLevel=debug' || a === '-ldebug' || ((a === '-l' || a === '--logLevel') && argv[i + 1] === 'debug'));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    return report(io, e, debug);
  }
}

function report(io: CliIo, e: unknown, debug: boolean): number {
  const err = (line: string): void => void io.stderr.write(`${line}\n`);
  if (e instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return EXIT_OK;
    return EXIT_USAGE;
  }
  if (e instanceof UsageError || e instanceof InvalidHostError) {
    err(`error: ${e.message}`);
    return EXIT_USAGE;
  }
  if (e instanceof ApiError) {
    err(`Error: ${e.message} (${e.code})`);
    if (Object.keys(e.details).length > 0) err(indent(toYaml(e.details)));
    return EXIT_FAILURE;
  }
  if (e instanceof ConnectionError) {
    err(`Error: ${e.message}`);
    err('  is the server running? point the CLI at it with --host or POLLY_HOST');
    return EXIT_FAILURE;
  }
  if (e instanceof CliError) {
    err(`Error: ${e.message}`);
    return EXIT_FAILURE;
  }
  const message = e instanceof Error ? e.message : String(e);
  err(`Error: ${message}`);
  if (debug && e instanceof Error && e.stack) err(e.stack);
  return EXIT_FAILURE;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
