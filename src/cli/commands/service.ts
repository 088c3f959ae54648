/** `polly service ls`: the storage services, their pools and usage. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { serviceColumns } from '../columns.js';

export function serviceCommands(program: Command, app: App): void {
  const service = program.command('service').description('storage services');

  service
    .command('ls')
    .alias('list')
    .description('list services with their pools, usage and quota')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().listServices(), serviceColumns);
    });
}
