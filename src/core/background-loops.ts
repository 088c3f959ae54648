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
  /**
   * Several replicas: who is alive. Intents of a replica that is not are finished or rolled back
   * without waiting for `intentAgeMs`, once older than ORPHAN_GRACE_MS (D48).
   */
  readonly liveReplicas?: () => Promise<ReadonlySet<string>>;
  /** More loops only the leader runs (e.g. claim expiry), each on its own interval. */
  readonly also?: readonly { readonly what: string; readonly everyMs: number; run(): Promise<unknown> }[];
}

/** How old an intent of a vanished replica must be before a pass takes it over (D48). */
export const ORPHAN_GRACE_MS = 10_000;
const LIVENESS_RECHECK_MS = 3000;

/** Runtime reconcile passes never touch intents younger than this (D5). */
export const RUNTIME_INTENT_AGE_MS = 15 * 60_000;

/**
 * The loops only one replica runs (the leader, or the only server): a reconcile pass right away
 * (a new leader catches up with what the previous one left), then one every interval, until
 * `signal` aborts. Passes never overlap.
 */
export function runLeaderLoops(target: BackgroundTarget, options: BackgroundOptions, signal: AbortSignal): void {
  let timer: NodeJS.Timeout | undefined;
  let passes = 0;
  const pass = async () => {
    if (signal.aborted) return;
    try {
      // A replica counts as gone only when two looks LIVENESS_RECHECK_MS apart both miss it: a
      // replica re-campaigning after an etcd hiccup is briefly absent but still running.
      let live: Set<string> | undefined;
      if (options.liveReplicas) {
        live = new Set(await options.liveReplicas());
        await new Promise((r) => setTimeout(r, LIVENESS_RECHECK_MS).unref());
        for (const name of await options.liveReplicas()) live.add(name);
      }
      if (signal.aborted) return;
      const startedAt = Date.now();
      await target.reconcile({
        intentAgeMs: options.intentAgeMs, quiescent: false, idempotencyTtlMs: options.idempotencyTtlMs,
        ...(live ? { orphaned: (i) => i.replica !== undefined && !live.has(i.replica) && startedAt - i.updatedAt > ORPHAN_GRACE_MS } : {}),
      });
    } catch (err) {
      options.logger.error({ err }, 'reconcile failed');
    }
    if (!signal.aborted) {
      // The second pass comes soon, for the intents the previous leader left that were too young.
      const next = ++passes === 1 && options.liveReplicas ? Math.min(ORPHAN_GRACE_MS + 1000, options.reconcileIntervalMs) : options.reconcileIntervalMs;
      timer = setTimeout(() => void pass(), next);
      timer.unref();
    }
  };
  const others = (options.also ?? []).map((loop) => {
    const t = setInterval(() => {
      void loop.run().catch((err: unknown) => options.logger.error({ err }, `${loop.what} failed`));
    }, loop.everyMs);
    t.unref();
    return t;
  });
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    for (const t of others) clearInterval(t);
  }, { once: true });
  void pass();
}
