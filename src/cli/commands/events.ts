/** `polly events`: the timeline of node and failover events. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { eventColumns } from '../columns.js';
import { UsageError } from '../errors.js';

interface EventOptions {
  node?: string;
  volume?: string;
  type?: string;
  limit?: string;
}

export function eventCommands(program: Command, app: App): void {
  program
    .command('events')
    .description('the timeline of node and failover events, oldest first')
    .option('--node <id>', 'only events of this node')
    .option('--volume <id>', 'only events of this volume')
    .option('--type <type>', 'only this event type, or a prefix ending in "." such as node.')
    .option('--limit <n>', 'at most this many events (default 500)')
    .action(async (opts: EventOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const limit = opts.limit === undefined ? undefined : Number(opts.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError(`--limit: "${opts.limit}" is not a positive integer`);
      const page = await ctx.client().listEvents({
        ...(opts.node !== undefined ? { node: opts.node } : {}), ...(opts.volume !== undefined ? { volume: opts.volume } : {}),
        ...(opts.type !== undefined ? { type: opts.type } : {}), ...(limit !== undefined ? { limit } : {}),
      });
      ctx.print(page.items, eventColumns);
    });
}
