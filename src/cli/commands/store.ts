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

  store
    .command('migrate')
    .description('copy every record of one store into another, empty one and verify counts and checksums (stop the servers first)')
    .requiredOption('--from <store>', 'the source: sqlite:PATH (or etcd:URL[,URL…])')
    .requiredOption('--to <store>', 'the target: etcd:URL[,URL…] (or sqlite:PATH)')
    .option('--prefix <prefix>', 'the etcd key prefix (default /polly/)')
    .option('--ca <file>', 'PEM CA certificate for https:// etcd endpoints')
    .option('--cert <file>', 'PEM client certificate for etcd')
    .option('--key <file>', 'PEM client private key for etcd')
    .option('--user <name>', 'etcd user (the password comes from POLLY_STORE_PASSWORD)')
    .action(async (opts: { from: string; to: string; prefix?: string; ca?: string; cert?: string; key?: string; user?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const migrate = app.hooks.migrateStore;
      if (migrate === undefined) throw new CliError('this polly build cannot migrate stores (no stores wired into the CLI)');
      const password = ctx.io.env['POLLY_STORE_PASSWORD'];
      const request = {
        from: opts.from, to: opts.to,
        ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
        ...(opts.key !== undefined ? { key: opts.key } : {}),
        ...(opts.user !== undefined ? { username: opts.user } : {}),
        ...(password !== undefined && password !== '' ? { password } : {}),
      };
      const progress = ctx.io.stderr.isTTY === true ? (n: number) => void ctx.io.stderr.write(`\rcopied ${n} records`) : () => undefined;
      try {
        ctx.print(await migrate(request, progress));
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        const message = e instanceof Error ? e.message : String(e);
        if (code === 'INVALID_ARGUMENT') throw new UsageError(message);
        throw new CliError(typeof code === 'string' ? `${message} (${code})` : message);
      } finally {
        if (ctx.io.stderr.isTTY === true) ctx.io.stderr.write('\n');
      }
    });
}
