/** `polly snapshot …`: list, show and remove snapshots (take one with `polly volume snapshot`). */
import type { Command } from 'commander';
import type { Snapshot } from '../../client/types.js';
import type { App } from '../app.js';
import { snapshotColumns } from '../columns.js';

export function snapshotCommands(program: Command, app: App): void {
  const snapshot = program.command('snapshot').description('list, show and remove snapshots');

  snapshot
    .command('ls')
    .alias('list')
    .description('list snapshots')
    .option('--volumeid <id>', 'only snapshots of this volume')
    .option('--servicename <name>', 'only snapshots of this service')
    .action(async (opts: { volumeid?: string; servicename?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const list: Snapshot[] = [];
      for await (const s of ctx.client().allSnapshots({ volume: opts.volumeid, service: opts.servicename })) list.push(s);
      ctx.print(list, snapshotColumns);
    });

  snapshot
    .command('inspect')
    .description('show one snapshot')
    .argument('<id>', 'snapshot id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().getSnapshot(id), snapshotColumns);
    });

  snapshot
    .command('rm')
    .alias('remove')
    .description('remove a snapshot (prints it as it was)')
    .argument('<id>', 'snapshot id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().deleteSnapshot(id), snapshotColumns);
    });
}
