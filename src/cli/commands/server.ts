/** `polly server` and the 2016 `polly start -f`: run the server in this process. */
import type { Command } from 'commander';
import type { App, ServerStartOptions } from '../app.js';
import { CliError, UsageError } from '../errors.js';

interface ServerOptions {
  config?: string;
  dataDir?: string;
  foreground?: boolean;
}

export function serverCommands(program: Command, app: App): void {
  const run = async (opts: ServerOptions, cmd: Command): Promise<void> => {
    const start = app.hooks.startServer;
    if (start === undefined) throw new CliError('this polly build cannot start a server (no server wired into the CLI)');
    // Validates the program-wide options; the raw --host / POLLY_HOST value goes to the
    // server's config loader, which interprets it as the listen address.
    const ctx = app.context(cmd);
    const host = ctx.settings.host.value;
    const logLevel = ctx.settings.logLevel;
    const startOpts: ServerStartOptions = {
      ...(opts.config !== undefined ? { config: opts.config } : {}),
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      ...(host !== undefined ? { host } : {}),
      ...(logLevel !== undefined ? { logLevel } : {}),
    };
    await start(startOpts);
  };

  program
    .command('server')
    .description('run the Polly server in the foreground')
    .option('-c, --config <file>', 'configuration file (YAML)')
    .option('--data-dir <dir>', 'directory for the embedded store and state')
    .action(async (opts: ServerOptions, cmd: Command) => run(opts, cmd));

  program
    .command('start')
    .description('run the Polly server (2016 form: polly start -f)')
    .option('-f, --foreground', 'run in the foreground (required)')
    .option('-c, --config <file>', 'configuration file (YAML)')
    .option('--data-dir <dir>', 'directory for the embedded store and state')
    .action(async (opts: ServerOptions, cmd: Command) => {
      if (!opts.foreground) {
        throw new UsageError(
          'polly start only runs in the foreground: use "polly start -f" (or "polly server"); to run Polly as a background service, let your init system (e.g. a systemd unit) run "polly server"',
        );
      }
      await run(opts, cmd);
    });
}
