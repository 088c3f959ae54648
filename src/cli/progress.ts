/** A one-line progress bar redrawn in place on a terminal stream. */
import type { OperationProgress } from '../client/types.js';
import { formatBytes } from '../core/units.js';
import type { OutStream } from './io.js';

const WIDTH = 30;

export class ProgressBar {
  #drawn = false;
  #lastLine = '';

  constructor(
    private readonly out: OutStream,
    private readonly label: string,
  ) {}

  update(progress: OperationProgress | undefined): void {
    const done = Math.max(0, progress?.doneBytes ?? 0);
    const total = Math.max(0, progress?.totalBytes ?? 0);
    const line = progressLine(this.label, done, total);
    if (line === this.#lastLine) return;
    const pad = ' '.repeat(Math.max(0, this.#lastLine.length - line.length));
    this.out.write(`\r${line}${pad}`);
    this.#lastLine = line;
    this.#drawn = true;
  }

  /** Ends the line so later output starts on a fresh one. */
  finish(): void {
    if (this.#drawn) this.out.write('\n');
    this.#drawn = false;
    this.#lastLine = '';
  }
}

/** `cloning [##########----------]  50%  5Gi / 10Gi`; without a known total, bytes only. */
export function progressLine(label: string, done: number, total: number): string {
  if (total <= 0) return `${label} ${formatBytes(done)}`;
  const ratio = Math.min(1, done / total);
  const filled = Math.round(ratio * WIDTH);
  const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${pct}  ${formatBytes(done)} / ${formatBytes(total)}`;
}
