/** `polly store get|erase`: look into and wipe Polly's persistent store (admin). */
import type { Command } from 'commander';
import type { StoreEntry } from '../../client/types.js';
import type { App } from '../app.js';
import { storeColumns } from '../columns.js';
import { CliError, UsageError } from '../errors.js';
import { askLine } from '../prompt.js';

export function storeCommands(program: Command, app: App): void {
  const store = program.command('store').description("Polly's persistent store (admin)");

  store
    .command('get')
    .description('print the records of the store (key: value)')
    .option('--prefix <prefix>', 'only keys starting with this prefix')
    .action(async (opts: { prefix?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const entries: StoreEntry[] = [];
      for await (const e of ctx.client().allStore({ prefix: opts.prefix })) entries.push(e);
      if (ctx.format === 'yaml') {
        // As in 2016: one `key: value` line per record.
        ctx.print(Object.fromEntries(entries.map((e) => [e.key, e.value])));
      } else {
        ctx.print(entries, storeColumns);
      }
    });

  store
    .command('erase')
    .description('erase every record of the store (volumes, labels, offers): destructive')
    .option('--yes', 'do not ask for confirmation')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      if (!opts.yes) {
        if (!ctx.io.stdin.isTTY) {
          throw new UsageError('refusing to erase the store without confirmation: stdin is not a terminal; pass --yes');
        }
        const answer = await askLine(
          ctx.io.stdin,
          ctx.io.stderr,
          `This erases every record of Polly's store at ${ctx.baseUrl()}: volume records, labels and offers are lost.\nType yes to continue: `,
        );
        if (answer !== 'yes') throw new CliError('store erase aborted');
      }
      ctx.print(await ctx.client().eraseStore());
    });
}
