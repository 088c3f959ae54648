/** `polly volume attach|detach`: attach a volume to a node (its agent mounts it) and back. */
import type { Command } from 'commander';
import type { App } from '../app.js';
import { volumeColumns } from '../columns.js';
import { UsageError } from '../errors.js';
import { oneVolumeId } from './volume.js';

interface AttachFlags {
  volumeid?: string;
  node?: string;
  accessmode?: string;
  readonly?: boolean;
}

/** Adds `attach` and `detach` to the `volume` command group. */
export function attachCommands(program: Command, app: App): void {
  const volume = program.commands.find((c) => c.name() === 'volume');
  if (!volume) throw new Error('the volume command group must be built first');

  volume
    .command('attach [id]')
    .description("attach a volume to a node; a node with an agent mounts it at <mountDir>/<volumeId> (an RWO volume is refused while another node holds it)")
    .option('--volumeid <id>', 'volume id (2016 style)')
    .requiredOption('--node <id>', 'node to attach to')
    .option('--accessmode <mode>', 'rwo (default), rox or rwx')
    .option('--readonly', 'attach read-only')
    .action(async (id: string | undefined, opts: AttachFlags, cmd: Command) => {
      const ctx = app.context(cmd);
      const mode = opts.accessmode;
      if (mode !== undefined && mode !== 'rwo' && mode !== 'rox' && mode !== 'rwx') throw new UsageError(`--accessmode: "${mode}" is not rwo, rox or rwx`);
      const v = await ctx.client().attachVolume(oneVolumeId(id, opts.volumeid), {
        nodeId: opts.node!, ...(mode !== undefined ? { accessMode: mode } : {}), ...(opts.readonly ? { readOnly: true } : {}),
      });
      ctx.print(v, volumeColumns);
    });

  volume
    .command('detach [id]')
    .description("detach a volume from a node; the node's agent unmounts and releases it first")
    .option('--volumeid <id>', 'volume id (2016 style)')
    .requiredOption('--node <id>', 'node to detach from')
    .action(async (id: string | undefined, opts: AttachFlags, cmd: Command) => {
      const ctx = app.context(cmd);
      ctx.print(await ctx.client().detachVolume(oneVolumeId(id, opts.volumeid), opts.node!), volumeColumns);
    });
}
