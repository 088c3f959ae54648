import { Worker } from 'node:worker_threads';
import { PollyError, type ErrorCode, type ErrorDetails } from '../../core/errors.js';
import type { TxnResult } from '../../core/ports/store.js';
import type { PreparedTxn } from '../validate.js';
import type { WriteRequest, Writer } from './write-request.js';

export interface WorkerData {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

/** Writes submitted in the same turn of the event loop cross to the thread in one message. */
export type WriterMessage = { type: 'writes'; writes: { id: number; request: WriteRequest }[] } | { type: 'close' };
export type WriteOutcome = { id: number; result: TxnResult | number } | { id: number; error: WireError };
/** The outcomes of one commit come back in one message. */
export type WriterReply = { type: 'ready' } | { type: 'outcomes'; outcomes: WriteOutcome[] } | { type: 'fatal'; error: WireError };

/**
 * Writes of a file store run on a writer thread (write-worker.ts): SQLite's commit, fsync
 * included, is synchronous, and on the server's event loop it would stall every request.
 * Reads stay on the caller's connection; a write's promise settles after its COMMIT returned,
 * so a read made after that sees it (WAL readers start from the newest commit).
 */
export class WriteThread implements Writer {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: never) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private outbox: { id: number; request: WriteRequest }[] = [];
  private broken: PollyError | undefined;
  private closing = false;
  private readonly exited: Promise<void>;

  constructor(data: WorkerData) {
    this.worker = new Worker(new URL('./write-worker.js', import.meta.url), { workerData: data });
    // The thread keeps the process alive only while writes are pending (see submit/receive), so a
    // store nobody closed does not hold a finished process open.
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.receive(reply));
    this.worker.on('error', (e) => this.fail(new PollyError('UNAVAILABLE', `sqlite writer thread failed: ${e.message}`, {}, { cause: e })));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.exited.then(() => this.fail(new PollyError('UNAVAILABLE', 'store is closed')));
  }

  submit(request: { kind: 'txn'; txn: PreparedTxn }): Promise<TxnResult>;
  submit(request: { kind: 'erase'; prefix: string }): Promise<number>;
  submit(request: WriteRequest): Promise<TxnResult | number> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject });
      if (this.outbox.length === 0) queueMicrotask(() => this.send());
      this.outbox.push({ id, request });
    });
  }

  private send(): void {
    const writes = this.outbox;
    this.outbox = [];
    // Empty when close() sent this turn's writes already.
    if (writes.length > 0 && !this.broken) this.worker.postMessage({ type: 'writes', writes } satisfies WriterMessage);
  }

  get healthy(): boolean {
    return this.broken === undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.worker.ref(); // until it has committed what is queued and exited
    if (this.outbox.length > 0) this.send(); // writes of this very turn go first
    if (!this.broken) this.worker.postMessage({ type: 'close' } satisfies WriterMessage);
    await this.exited;
  }

  private receive(reply: WriterReply): void {
    if (reply.type === 'ready') return;
    if (reply.type === 'fatal') {
      this.fail(toPollyError(reply.error));
      void this.worker.terminate();
      return;
    }
    for (const outcome of reply.outcomes) {
      const waiter = this.pending.get(outcome.id);
      if (waiter === undefined) continue;
      this.pending.delete(outcome.id);
      if ('result' in outcome) waiter.resolve(outcome.result as never);
      else waiter.reject(toPollyError(outcome.error));
    }
    if (this.pending.size === 0 && !this.closing) this.worker.unref();
  }

  private fail(error: PollyError): void {
    this.broken ??= error;
    for (const waiter of this.pending.values()) waiter.reject(this.broken);
    this.pending.clear();
    this.worker.unref();
  }
}

const toPollyError = (e: WireError): PollyError => new PollyError(e.code, e.message, e.details);
