import { randomBytes } from 'node:crypto';
import { asPollyError, notFound, type PollyError } from './errors.js';
import type { Caller } from './model.js';
import type { Clock } from './ports/clock.js';
import type { Progress, ProgressListener } from './ports/storage-driver.js';

export type OperationStatus = 'running' | 'succeeded' | 'failed';

export interface Operation {
  readonly id: string;
  readonly kind: string;
  /** Who started it; only they (or an admin) may follow it. */
  readonly owner: string;
  readonly status: OperationStatus;
  readonly progress: Progress;
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly result?: unknown;
  readonly error?: PollyError;
}

const KEEP_FINISHED_MS = 15 * 60_000;

/**
 * Long operations (copy-based clones and snapshots) run in the background of the request that
 * started them; clients follow their progress by id. Kept in memory by the replica running them.
 */
export class OperationTracker {
  private readonly ops = new Map<string, Operation>();

  constructor(private readonly clock: Clock) {}

  start(caller: Caller, kind: string, run: (onProgress: ProgressListener) => Promise<unknown>): Operation {
    this.prune();
    const op: Operation = { id: `op-${randomBytes(16).toString('hex')}`, kind, owner: caller.name, status: 'running', progress: { doneBytes: 0, totalBytes: 0 }, startedAt: this.clock.now() };
    this.ops.set(op.id, op);
    const update = (patch: Partial<Operation>) => this.ops.set(op.id, { ...this.ops.get(op.id)!, ...patch });
    run((progress) => update({ progress }))
      .then((result) => update({ status: 'succeeded', result, finishedAt: this.clock.now() }))
      .catch((e: unknown) => update({ status: 'failed', error: asPollyError(e), finishedAt: this.clock.now() }));
    return op;
  }

  get(caller: Caller, id: string): Operation {
    const op = this.ops.get(id);
    if (!op || (caller.kind !== 'admin' && op.owner !== caller.name)) throw notFound('operation', id);
    return op;
  }

  private prune(): void {
    const cutoff = this.clock.now() - KEEP_FINISHED_MS;
    for (const [id, op] of this.ops) if (op.finishedAt !== undefined && op.finishedAt < cutoff) this.ops.delete(id);
  }
}
