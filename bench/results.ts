import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const FILE = new URL('../../bench/RESULTS.md', import.meta.url);

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Prints a result block and appends it, dated and with the machine, to bench/RESULTS.md. */
export function record(title: string, lines: readonly string[]): void {
  const machine = `${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const block = [`### ${title} — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, '', `Machine: ${machine}`, '', ...lines.map((l) => `- ${l}`), '', ''].join('\n');
  process.stdout.write(block);
  if (!existsSync(FILE)) writeFileSync(FILE, '# Benchmark results\n\nAppended by `npm run bench`; newest last. Targets are in the issues.\n\n');
  appendFileSync(FILE, block);
}
