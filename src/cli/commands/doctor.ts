/** `polly doctor`: what the reconciler found and repaired. */
import type { Command } from 'commander';
import type { DoctorReport } from '../../client/types.js';
import type { App } from '../app.js';

/** One line per finding, for people; `--format yaml|json` prints the full report instead. */
const MAX_SHOWN = 5;

/** `label: count (first few, …)`, nothing when there is nothing. */
function finding(lines: string[], label: string, items: readonly unknown[] | number): void {
  const count = typeof items === 'number' ? items : items.length;
  if (count === 0) return;
  const shown = typeof items === 'number' ? '' : ` (${items.slice(0, MAX_SHOWN).map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ')}${items.length > MAX_SHOWN ? ', …' : ''})`;
  lines.push(`  ${label}: ${count}${shown}`);
}

/** One line per finding, for people; `--format yaml|json` prints the full report instead. */
export function summarise(d: DoctorReport): string[] {
  const lines: string[] = [];
  const r = d.reconcile;
  if (r) {
    lines.push(`catalog pass at ${String(r['finishedAt'])}`);
    finding(lines, 'creates finished', r.finished);
    finding(lines, 'creates rolled back', r.rolledBack);
    finding(lines, 'deletes finished', r.deleted);
    finding(lines, 'volumes whose backend is gone (marked error)', r.missingBackend);
    finding(lines, 'backend volumes Polly does not manage', r.unmanaged);
    finding(lines, 'usage bookkeeping fixed', r.usageFixed);
    finding(lines, 'leftovers cleaned', r.cleaned);
    finding(lines, 'errors', r.errors);
  } else lines.push('no catalog pass yet');
  const x = d.nodes;
  if (x) {
    lines.push(`node pass at ${x.finishedAt}: nodes ${Object.entries(x.nodes).map(([s, c]) => `${c} ${s}`).join(', ') || 'none'}`);
    finding(lines, 'attachments to fenced nodes revoked', x.revoked);
    finding(lines, 'attachments to nodes without an agent', x.withoutAgent);
    finding(lines, 'volumes released on nodes (mounted, not attached)', x.released);
    finding(lines, 'volumes mounted again (attached, not mounted)', x.remounted);
    finding(lines, 'intents on node pools finished', x.intents?.finished ?? []);
    finding(lines, 'intents on node pools rolled back', x.intents?.rolledBack ?? []);
    finding(lines, 'deletes on node pools finished', x.intents?.deleted ?? []);
    finding(lines, 'intents waiting for their node\'s agent', x.waiting ?? []);
    finding(lines, 'errors', x.errors);
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
