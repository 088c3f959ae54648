/** Runs the CLI in-process with captured streams, for tests. */
import { PassThrough } from 'node:stream';
import type { CliHooks } from '../app.js';
import type { CliIo, InStream } from '../io.js';
import { runCli } from '../main.js';

export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdoutTTY?: boolean;
  stdinTTY?: boolean;
  /** Lines typed on stdin (the stream ends after them). */
  input?: string;
  hooks?: CliHooks;
}

export async function run(argv: string[], opts: RunOptions = {}): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough() as PassThrough & InStream;
  stdin.isTTY = opts.stdinTTY ?? false;
  stdin.end(opts.input ?? '');
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.stdoutTTY ?? false, columns: 120 },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    stdin,
    env: opts.env ?? {},
  };
  const code = await runCli(argv, io, opts.hooks ?? {});
  return { code, stdout, stderr };
}
