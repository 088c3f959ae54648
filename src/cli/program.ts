/** Builds the `polly` commander program for one run. */
import { Command, Option } from 'commander';
import type { App, CliHooks } from './app.js';
import { envCommand } from './commands/env.js';
import { offerCommands } from './commands/offer.js';
import { poolCommands } from './commands/pool.js';
import { serverCommands } from './commands/server.js';
import { serviceCommands } from './commands/service.js';
import { snapshotCommands } from './commands/snapshot.js';
import { storeCommands } from './commands/store.js';
import { versionCommand } from './commands/version.js';
import { volumeCommands } from './commands/volume.js';
import { CliContext, LOG_LEVELS, settingsFrom, type GlobalOptions } from './context.js';
import type { CliIo } from './io.js';
import { FORMATS } from './output.js';

export function buildProgram(io: CliIo, hooks: CliHooks): Command {
  const program = new Command('polly');
  program
    .description('Polly — polymorphic volume scheduling: a central storage scheduler for container platforms')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .addOption(new Option('--host <address>', 'Polly server: tcp://host:port, http(s)://host:port or host:port [env: POLLY_HOST] (default: tcp://127.0.0.1:7978)'))
    .addOption(new Option('--token <token>', 'API token sent as a bearer token [env: POLLY_TOKEN]'))
    .addOption(new Option('--format <format>', `output format: ${FORMATS.join(', ')} [env: POLLY_FORMAT] (default: yaml)`))
    .addOption(new Option('-l, --logLevel <level>', `log level: ${LOG_LEVELS.join(', ')} (client default: warn; server default: from its config)`));

  const app: App = {
    io,
    hooks,
    context: (cmd) => new CliContext(io, settingsFrom(cmd.optsWithGlobals<GlobalOptions>(), io.env)),
  };

  volumeCommands(program, app);
  snapshotCommands(program, app);
  serviceCommands(program, app);
  poolCommands(program, app);
  offerCommands(program, app);
  storeCommands(program, app);
  versionCommand(program, app);
  envCommand(program, app);
  serverCommands(program, app);
  return program;
}
