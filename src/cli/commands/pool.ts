/** `polly pool ls`: capacity of the pools. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { poolColumns } from '../columns.js';

export function poolCommands(program: Command, app: App): void {
  const pool = program.command('pool').description('storage pools');

  pool
    .command('ls')
    .alias('list')
    .description('list pools with their capacity')
    .option('--servicename <name>', 'only pools of this service')
    .action(async (opts: { servicename?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().listPools({ service: opts.servicename }), poolColumns);
    });
}
