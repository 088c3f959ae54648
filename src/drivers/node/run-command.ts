import { execFile } from 'node:child_process';
import { PollyError } from '../../core/errors.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly signal?: AbortSignal;
  /** Kills the command after this long (default 10 minutes). */
  readonly timeoutMs?: number;
  /** Exit codes that count as success besides 0 (fsck uses 1 for "errors corrected"). */
  readonly okExitCodes?: readonly number[];
}

/** A command that ran and failed; `exitCode` is undefined when it was killed or could not start. */
export class CommandFailed extends PollyError {
  readonly exitCode: number | undefined;
  readonly stderr: string;

  constructor(command: string, args: readonly string[], exitCode: number | undefined, stderr: string, cause: unknown) {
    const text = stderr.trim().split('\n').slice(-3).join('; ');
    super(
      'BACKEND_ERROR',
      `${[command, ...args].join(' ')} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}${text ? `: ${text}` : ''}`,
      { command, args: [...args], ...(exitCode === undefined ? {} : { exitCode }), stderr: text },
      { cause },
    );
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Runs a system tool with an argument array (never through a shell), in the C locale so its
 * messages are stable. A tool that is not installed is UNAVAILABLE naming the tool; a failure
 * is a CommandFailed (BACKEND_ERROR) carrying the last lines of stderr.
 */
export function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        timeout: options.timeoutMs ?? 600_000,
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const code = (error as NodeJS.ErrnoException & { code?: unknown }).code;
        if (options.signal?.aborted) return reject(options.signal.reason ?? error);
        if (code === 'ENOENT') {
          return reject(new PollyError('UNAVAILABLE', `${command} is not installed on this node (needed by the storage driver)`, { command }, { cause: error, retryable: false }));
        }
        const exitCode = typeof code === 'number' ? code : undefined;
        if (exitCode !== undefined && options.okExitCodes?.includes(exitCode)) return resolve({ stdout, stderr });
        reject(new CommandFailed(command, args, exitCode, String(stderr ?? ''), error));
      },
    );
  });
}
