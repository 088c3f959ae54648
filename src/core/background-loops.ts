import type { Logger } from './ports/logger.js';
import type { ReconcileOptions, ReconcileReport } from './reconciler.js';

export interface BackgroundTarget {
  reconcile(options: ReconcileOptions): Promise<ReconcileReport>;
}

export interface BackgroundOptions {
  readonly reconcileIntervalMs: number;
  readonly idempotencyTtlMs: number;
  /** Runtime passes leave intents younger than this alone: their requests may still be running. */
  readonly intentAgeMs: number;
  readonly logger: Logger;
}

/** Runtime reconcile passes never touch intents younger than this (D5). */
export const RUNTIME_INTENT_AGE_MS = 15 * 60_000;

/**
 * The loops only one replica runs (the leader, or the only server): a reconcile pass right away
 * (a new leader catches up with what the previous one left), then one every interval, until
 * `signal` aborts. Passes never overlap.
 */
export function runLeaderLoops(target: BackgroundTarget, options: BackgroundOptions, signal: AbortSignal): void {
  let timer: NodeJS.Timeout | undefined;
  const pass = async () => {
    if (signal.aborted) return;
    try {
      await target.reconcile({ intentAgeMs: options.intentAgeMs, quiescent: false, idempotencyTtlMs: options.idempotencyTtlMs });
    } catch (err) {
      options.logger.error({ err }, 'reconcile failed');
    }
    if (!signal.aborted) {
      timer = setTimeout(() => void pass(), options.reconcileIntervalMs);
      timer.unref();
    }
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  void pass();
}
