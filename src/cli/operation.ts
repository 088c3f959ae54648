/** Long copies (clone, snapshot): follow the server's operation with a progress bar on a terminal. */
import type { Started } from '../client/types.js';
import type { CliContext } from './context.js';
import { ProgressBar } from './progress.js';

export const POLL_INTERVAL_MS = 200;

/**
 * When stdout is a terminal, starts the work with `Prefer: respond-async` and polls the
 * operation every 200 ms, drawing progress on stderr. Otherwise (pipes, scripts) makes the plain
 * synchronous request without a time limit, since a copy can take long.
 */
export async function withProgress<T>(
  ctx: CliContext,
  label: string,
  start: () => Promise<Started<T>>,
  sync: () => Promise<T>,
): Promise<T> {
  if (!ctx.io.stdout.isTTY) return sync();
  const s = await start();
  if (s.done) return s.value;
  const bar = new ProgressBar(ctx.io.stderr, label);
  let total = s.operation.progress?.totalBytes ?? 0;
  bar.update(s.operation.progress);
  try {
    const result = await ctx.client().waitForOperation<T>(s.operation.id, {
      intervalMs: POLL_INTERVAL_MS,
      onProgress: (op) => {
        total = Math.max(total, op.progress?.totalBytes ?? 0);
        bar.update(op.progress);
      },
    });
    // Show the copy as complete even if the last poll came before the final byte count.
    if (total > 0) bar.update({ doneBytes: total, totalBytes: total });
    return result;
  } finally {
    bar.finish();
  }
}
