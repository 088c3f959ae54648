/** `polly volume …`: the 2016 commands with their 2016 flag names, plus inspect, snapshot, adopt. */
import { Option, type Command } from 'commander';
import type { CreateVolumeRequest, Snapshot, Volume, VolumeFilter } from '../../client/types.js';
import type { App } from '../app.js';
import { listedVolumeColumns, snapshotColumns, volumeColumns, type ListedVolume } from '../columns.js';
import type { CliContext } from '../context.js';
import { withProgress } from '../operation.js';
import { parseLabelKeys, parseLabelPairs, parseNameList, parseNonNegativeInt, parseSizeOption } from '../parse.js';
import { CliError, UsageError } from '../errors.js';

interface GetOptions {
  all?: boolean;
  servicename?: string;
  name?: string;
  label?: Record<string, string>;
  status?: string;
  scheduler?: string;
}

interface CreateOptions {
  servicename: string;
  name: string;
  size?: number;
  type?: string;
  iops?: number;
  availabilityzone?: string;
  label?: Record<string, string>;
  scheduler?: string[];
  fromsnapshot?: string;
  fromvolume?: string;
  claim?: string;
}

const LABELS_HELP = 'labels as key=value, comma-separated (k1=v1,k2=v2); may be repeated';

export function volumeCommands(program: Command, app: App): void {
  const volume = program.command('volume').description('list, create, label, offer and remove volumes');

  volume
    .command('get')
    .alias('ls')
    .description('list volumes managed by Polly (--all: also backend volumes it does not manage)')
    .option('--all', 'also list backend volumes Polly does not manage (marked managed: false)')
    .option('--servicename <name>', 'only volumes of this service')
    .option('--name <name>', 'only volumes with this name')
    .option('--label <k=v,...>', 'only volumes carrying all these labels', parseLabelPairs)
    .option('--status <status>', 'only volumes in this status (creating, available, attached, deleting, error)')
    .option('--scheduler <name>', 'only volumes offered to this scheduler')
    .action(async (opts: GetOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const client = ctx.client();
      const filter: VolumeFilter = {
        service: opts.servicename,
        name: opts.name,
        status: opts.status,
        scheduler: opts.scheduler,
        labels: opts.label,
      };
      const volumes: Volume[] = [];
      for await (const v of client.allVolumes(filter)) volumes.push(v);
      if (!opts.all) {
        ctx.print(volumes, volumeColumns);
        return;
      }
      const listed: ListedVolume[] = volumes.map((v) => ({ ...v, managed: true as const }));
      // Backend volumes have no name, labels, status or offers, so those filters exclude them all.
      const narrowed = opts.name !== undefined || opts.status !== undefined || opts.scheduler !== undefined || opts.label !== undefined;
      if (!narrowed) {
        for (const u of await client.listUnmanaged({ service: opts.servicename })) listed.push({ ...u, managed: false });
      }
      ctx.print(listed, listedVolumeColumns);
    });

  volume
    .command('inspect')
    .description('show one volume')
    .argument('[id]', 'volume id')
    .option('--volumeid <id>', 'volume id (2016 style)')
    .action(async (id: string | undefined, opts: { volumeid?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().getVolume(oneVolumeId(id, opts.volumeid)), volumeColumns);
    });

  volume
    .command('create')
    .description('create a volume (optionally a copy of a snapshot or of another volume)')
    .requiredOption('--servicename <name>', 'service the volume belongs to')
    .requiredOption('--name <name>', 'volume name (unique within the service)')
    .option('--size <size>', 'size: 10Gi, 512Mi, 1.5G…; a bare number is GiB (default: the source size, else the service default)', parseSizeOption)
    .option('--type <type>', 'volume type, e.g. gold')
    .option('--iops <n>', 'provisioned IOPS', parseNonNegativeInt)
    .option('--availabilityzone <zone>', 'availability zone the volume must be in')
    .option('--label <k=v,...>', LABELS_HELP, parseLabelPairs)
    .option('--scheduler <a,b>', 'offer the new volume to these schedulers', parseNameList)
    .addOption(new Option('--fromsnapshot <id>', 'create from this snapshot').conflicts('fromvolume'))
    .addOption(new Option('--fromvolume <id>', 'create as a clone of this volume'))
    .addOption(new Option('--claim <id>', 'use a capacity claim (polly offer accept): its pool and reservation; default size: the claim\'s').conflicts(['fromsnapshot', 'fromvolume']))
    .action(async (opts: CreateOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const client = ctx.client();
      const source = opts.fromsnapshot !== undefined ? { snapshot: opts.fromsnapshot } : opts.fromvolume !== undefined ? { volume: opts.fromvolume } : undefined;
      // With a claim and no size, the server takes the claim's size.
      const size = opts.size ?? (opts.claim !== undefined ? undefined : await defaultSize(ctx, opts));
      const req = {
        service: opts.servicename,
        name: opts.name,
        // Without a size known here the field is left out and the server applies its default.
        ...(size !== undefined ? { size } : {}),
        ...(opts.type !== undefined ? { type: opts.type } : {}),
        ...(opts.iops !== undefined ? { iops: opts.iops } : {}),
        ...(opts.availabilityzone !== undefined ? { zone: opts.availabilityzone } : {}),
        ...(opts.label !== undefined ? { labels: opts.label } : {}),
        ...(opts.scheduler !== undefined ? { schedulers: opts.scheduler } : {}),
        ...(source !== undefined ? { source } : {}),
        ...(opts.claim !== undefined ? { claim: opts.claim } : {}),
      } as CreateVolumeRequest;
      const created =
        source === undefined
          ? await client.createVolume(req)
          : await withProgress(
              ctx,
              opts.fromsnapshot !== undefined ? 'restoring' : 'cloning',
              () => client.startCreateVolume(req),
              () => client.createVolume(req, { timeoutMs: 0 }),
            );
      ctx.print(created, volumeColumns);
    });

  volume
    .command('remove')
    .alias('rm')
    .description('remove a volume (prints it as it was)')
    .argument('[id]', 'volume id')
    .option('--volumeid <id>', 'volume id (2016 style)')
    .action(async (id: string | undefined, opts: { volumeid?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().deleteVolume(oneVolumeId(id, opts.volumeid)), volumeColumns);
    });

  volume
    .command('offer')
    .description('offer a volume to schedulers')
    .requiredOption('--volumeid <id>', 'volume id')
    .requiredOption('--scheduler <a,b>', 'scheduler names, comma-separated', parseNameList)
    .action(async (opts: { volumeid: string; scheduler: string[] }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().offerVolume(opts.volumeid, opts.scheduler), volumeColumns);
    });

  volume
    .command('revoke')
    .description('revoke the offer of a volume to schedulers')
    .requiredOption('--volumeid <id>', 'volume id')
    .requiredOption('--scheduler <a,b>', 'scheduler names, comma-separated', parseNameList)
    .action(async (opts: { volumeid: string; scheduler: string[] }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().revokeVolume(opts.volumeid, opts.scheduler), volumeColumns);
    });

  volume
    .command('label')
    .description('set labels on a volume')
    .requiredOption('--volumeid <id>', 'volume id')
    .requiredOption('--label <k=v,...>', LABELS_HELP, parseLabelPairs)
    .action(async (opts: { volumeid: string; label: Record<string, string> }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().labelVolume(opts.volumeid, { set: opts.label }), volumeColumns);
    });

  volume
    .command('labelremove')
    .description('remove labels from a volume')
    .requiredOption('--volumeid <id>', 'volume id')
    .requiredOption('--label <k1,k2>', 'label keys, comma-separated; may be repeated', parseLabelKeys)
    .action(async (opts: { volumeid: string; label: string[] }, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().labelVolume(opts.volumeid, { remove: opts.label }), volumeColumns);
    });

  volume
    .command('snapshot')
    .description('take a snapshot of a volume')
    .requiredOption('--volumeid <id>', 'volume id')
    .requiredOption('--name <name>', 'snapshot name')
    .option('--label <k=v,...>', LABELS_HELP, parseLabelPairs)
    .action(async (opts: { volumeid: string; name: string; label?: Record<string, string> }, cmd: Command) => {
      const ctx = app.context(cmd);
      const client = ctx.client();
      const req = { name: opts.name, ...(opts.label !== undefined ? { labels: opts.label } : {}) };
      const snap = await withProgress<Snapshot>(
        ctx,
        'snapshot',
        () => client.startCreateSnapshot(opts.volumeid, req),
        () => client.createSnapshot(opts.volumeid, req, { timeoutMs: 0 }),
      );
      ctx.print(snap, snapshotColumns);
    });

  volume
    .command('adopt')
    .description('take a backend volume Polly does not manage under management (see volume get --all)')
    .requiredOption('--servicename <name>', 'service of the backend volume')
    .requiredOption('--pool <pool>', 'pool of the backend volume')
    .requiredOption('--backendid <id>', 'backend id of the volume')
    .requiredOption('--name <name>', 'name to give it in Polly')
    .option('--label <k=v,...>', LABELS_HELP, parseLabelPairs)
    .action(async (opts: { servicename: string; pool: string; backendid: string; name: string; label?: Record<string, string> }, cmd: Command) => {
      const ctx = app.context(cmd);
      const adopted = await ctx.client().adoptVolume({
        service: opts.servicename,
        pool: opts.pool,
        backendId: opts.backendid,
        name: opts.name,
        ...(opts.label !== undefined ? { labels: opts.label } : {}),
      });
      ctx.print(adopted, volumeColumns);
    });
}

function oneVolumeId(arg: string | undefined, flag: string | undefined): string {
  if (arg !== undefined && flag !== undefined && arg !== flag) throw new UsageError(`two different volume ids given: "${arg}" and --volumeid "${flag}"`);
  const id = arg ?? flag;
  if (id === undefined || id === '') throw new UsageError('give the volume id: --volumeid <id> (or as an argument)');
  return id;
}

/** Without --size: the size of the source, else the service's default size (if it reports one). */
async function defaultSize(ctx: CliContext, opts: CreateOptions): Promise<number | undefined> {
  const client = ctx.client();
  if (opts.fromsnapshot !== undefined) return (await client.getSnapshot(opts.fromsnapshot)).size;
  if (opts.fromvolume !== undefined) return (await client.getVolume(opts.fromvolume)).size;
  const service = (await client.listServices()).find((s) => s.name === opts.servicename);
  if (service === undefined) throw new CliError(`no service named "${opts.servicename}" (see polly service ls)`);
  return typeof service.defaultSize === 'number' ? service.defaultSize : undefined;
}
