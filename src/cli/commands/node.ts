/** `polly node ls|inspect|cordon|uncordon|drain`: nodes and their agents. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { nodeColumns } from '../columns.js';

export function nodeCommands(program: Command, app: App): void {
  const node = program.command('node').description('nodes running an agent');

  node
    .command('ls')
    .alias('list')
    .description('list nodes with their state, lease and pools')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().listNodes(), nodeColumns);
    });

  node
    .command('inspect <id>')
    .description('a node in full, with the volumes attached to it')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().getNode(id));
    });

  node
    .command('cordon <id>')
    .description('no new attachments to the node')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().cordonNode(id, true), nodeColumns);
    });

  node
    .command('uncordon <id>')
    .description('allow attachments to the node again')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().cordonNode(id, false), nodeColumns);
    });

  node
    .command('drain <id>')
    .description('cordon the node and detach every volume from it (through its agent)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().drainNode(id));
    });
}
