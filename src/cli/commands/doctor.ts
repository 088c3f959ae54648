/** `polly doctor`: what the reconciler found and repaired. */
import type { Command } from 'commander';
import type { DoctorReport } from '../../client/types.js';
import type { App } from '../app.js';

/** One line per finding, for people; `--format yaml|json` prints the full report instead. */
export function summarise(d: DoctorReport): string[] {
  const lines: string[] = [];
  const r = d.reconcile;
  if (r) {
    const n = (label: string, items: readonly unknown[] | number) => {
      const count = typeof items === 'number' ? items : items.length;
      if (count > 0) lines.push(`${label}: ${count}${typeof items === 'number' ? '' : ` (${items.slice(0, 5).map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ')}${items.length > 5 ? ', …' : ''})`}`);
    };
    lines.push(`catalog pass at ${String(r['finishedAt'])}`);
    n('  creates finished', r.finished);
    n('  creates rolled back', r.rolledBack);
    n('  deletes finished', r.deleted);
    n('  volumes whose backend is gone (marked error)', r.missingBackend);
    n('  backend volumes Polly does not manage', r.unmanaged);
    n('  usage bookkeeping fixed', r.usageFixed);
    n('  leftovers cleaned', r.cleaned);
    n('  errors', r.errors);
  } else lines.push('no catalog pass yet');
  const x = d.nodes;
  if (x) {
    lines.push(`node pass at ${x.finishedAt}: nodes ${Object.entries(x.nodes).map(([s, c]) => `${c} ${s}`).join(', ') || 'none'}`);
    const n = (label: string, items: readonly string[]) => {
      if (items.length > 0) lines.push(`  ${label}: ${items.length} (${items.slice(0, 5).join(', ')}${items.length > 5 ? ', …' : ''})`);
    };
    n('attachments to fenced nodes revoked', x.revoked);
    n('attachments to nodes without an agent', x.withoutAgent);
    n('volumes released on nodes (mounted, not attached)', x.released);
    n('volumes mounted again (attached, not mounted)', x.remounted);
    n('errors', x.errors);
  } else lines.push('no node pass yet');
  if (lines.every((l) => !l.startsWith('  '))) lines.push('nothing to repair');
  return lines;
}

export function doctorCommand(program: Command, app: App): void {
  program
    .command('doctor')
    .description("what the reconciler found and repaired (catalog, backends, nodes' mount tables)")
    .option('--run', 'run a reconcile pass now instead of showing the last one')
    .action(async (opts: { run?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const report = await ctx.client().doctor(opts.run === true);
      if (ctx.format === 'table') ctx.io.stdout.write(`${summarise(report).join('\n')}\n`);
      else ctx.print(report);
    });
}
