/** `polly env`: the effective client settings and the POLLY_* environment. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import type { Source } from '../context.js';

const SECRET = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL/i;

const from = (source: Source, envName: string, flag: string): string =>
  source === 'flag' ? flag : source === 'env' ? envName : 'default';

export function envCommand(program: Command, app: App): void {
  program
    .command('env')
    .description('print the effective client settings and the POLLY_* environment')
    .action((_opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = ctx.settings;
      let host: string;
      try {
        host = ctx.baseUrl();
      } catch (e) {
        host = `invalid: ${e instanceof Error ? e.message : String(e)}`;
      }
      const environment: Record<string, string> = {};
      for (const name of Object.keys(ctx.io.env).sort()) {
        const value = ctx.io.env[name];
        if (!name.startsWith('POLLY_') || value === undefined) continue;
        environment[name] = SECRET.test(name) && value !== '' ? '(redacted)' : value;
      }
      ctx.print({
        settings: {
          host,
          hostFrom: from(s.host.source, 'POLLY_HOST', '--host'),
          token: s.token.value === undefined ? '(not set)' : '(set, redacted)',
          tokenFrom: from(s.token.source, 'POLLY_TOKEN', '--token'),
          format: s.format.value,
          formatFrom: from(s.format.source, 'POLLY_FORMAT', '--format'),
          logLevel: s.logLevel ?? 'warn',
        },
        environment,
      });
    });
}
