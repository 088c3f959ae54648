/** `polly offer …` and `polly claim …`: storage offered to schedulers, and the claims made by accepting it. */
import type { Command } from 'commander';
import type { Offer, OfferStreamEvent } from '../../client/types.js';
import type { App } from '../app.js';
import { claimColumns, offerColumns } from '../columns.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { toYaml } from '../output.js';
import { parsePositiveInt, parseSecondsOption, parseSizeOption } from '../parse.js';
import { tableOf } from '../table.js';

const SCHEDULER_HELP = 'admins: act for this scheduler (default: yourself)';

export function offerCommands(program: Command, app: App): void {
  const offer = program.command('offer').description('offers: free capacity and volumes a scheduler may claim');

  offer
    .command('ls')
    .alias('list')
    .description('list the offers for you (admins: --scheduler for another)')
    .option('--scheduler <name>', SCHEDULER_HELP)
    .action(async (opts: { scheduler?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().listOffers({ scheduler: opts.scheduler }), offerColumns);
    });

  offer
    .command('accept')
    .description('accept an offer: a claim that reserves the volume, or --size of the pool, for --ttl')
    .argument('<id>', 'offer id')
    .option('--size <size>', 'capacity offers: bytes to reserve (10Gi, 512Mi; a bare number is GiB)', parseSizeOption)
    .option('--ttl <duration>', 'how long the claim lives (90, 30s, 5m; default from the server)', parseSecondsOption)
    .action(async (id: string, opts: { size?: number; ttl?: number }, cmd: Command) => {
      const ctx = app.context(cmd);
      const claim = await ctx.client().acceptOffer(id, { ...(opts.size !== undefined ? { size: opts.size } : {}), ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) });
      ctx.print(claim, claimColumns);
    });

  offer
    .command('decline')
    .description('decline an offer: it is not offered to you again for --refuse')
    .argument('<id>', 'offer id')
    .option('--refuse <duration>', 'how long not to offer it again (90, 30s, 5m; default 5s)', parseSecondsOption)
    .action(async (id: string, opts: { refuse?: number }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().declineOffer(id, opts.refuse !== undefined ? { refuseSeconds: opts.refuse } : {}));
    });

  offer
    .command('watch')
    .description('follow offer changes as they happen (snapshot, added, changed, rescinded) until interrupted')
    .option('--scheduler <name>', SCHEDULER_HELP)
    .option('--since <event-id>', 'resume after this event id (as printed by an earlier watch)')
    .option('--count <n>', 'stop after this many events', parsePositiveInt)
    .action(async (opts: { scheduler?: string; since?: string; count?: number }, cmd: Command) => {
      const ctx = app.context(cmd);
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let seen = 0;
      try {
        const stream = ctx.client().watchOffers({
          ...(opts.scheduler !== undefined ? { scheduler: opts.scheduler } : {}),
          ...(opts.since !== undefined ? { lastEventId: opts.since } : {}),
          signal: ac.signal,
        });
        for await (const event of stream) {
          printEvent(ctx, event, seen === 0);
          seen++;
          if (opts.count !== undefined && seen >= opts.count) break;
        }
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
    });

  const claim = program.command('claim').description('claims: reservations made by accepting offers');

  claim
    .command('ls')
    .alias('list')
    .description('list your claims (admins: every claim, or --scheduler)')
    .option('--scheduler <name>', 'only the claims of this scheduler')
    .action(async (opts: { scheduler?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().listClaims({ scheduler: opts.scheduler }), claimColumns);
    });

  claim
    .command('rm')
    .alias('release')
    .description('release a claim before it expires (prints it as it was)')
    .argument('<id>', 'claim id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      if (!/^clm-/.test(id)) throw new UsageError(`"${id}" is not a claim id (clm-…)`);
      ctx.print(await ctx.client().releaseClaim(id), claimColumns);
    });
}

interface EventRow {
  readonly id: string;
  readonly type: string;
  readonly offer?: Offer;
  readonly offerId?: string;
}

const eventColumns = offerColumns.map((c) => ({ header: c.header, value: (r: EventRow) => (r.offer ? c.value(r.offer) : c.header === 'ID' ? r.offerId ?? '-' : '-') }));

/** One event per YAML document, one JSON object per line, or table rows (one per offer). */
function printEvent(ctx: CliContext, event: OfferStreamEvent, first: boolean): void {
  if (ctx.format === 'json') {
    ctx.io.stdout.write(`${JSON.stringify(event)}\n`);
    return;
  }
  if (ctx.format === 'yaml') {
    ctx.io.stdout.write(`---\n${toYaml(event)}`);
    return;
  }
  const rows: EventRow[] = event.type === 'snapshot'
    ? event.offers.map((offer) => ({ id: event.id, type: 'snapshot', offer }))
    : [{ id: event.id, type: event.type, ...(event.type === 'rescinded' ? { offerId: event.offerId } : { offer: event.offer }) }];
  const columns = [{ header: 'EVENT', value: (r: EventRow) => r.type }, { header: 'EVENT ID', value: (r: EventRow) => r.id }, ...eventColumns];
  const table = tableOf(columns, rows);
  // The header once, at the top; later events print their rows only.
  ctx.io.stdout.write(first ? table : table.split('\n').slice(1).join('\n'));
}
