import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { GroupCommit } from './group-commit.js';
import { storeError, WriteJobs, type WriteRequest } from './write-request.js';
import type { WorkerData, WriteOutcome, WriterMessage, WriterReply } from './write-thread.js';

/**
 * The writer thread: owns the store's only write connection (WAL, synchronous=FULL). Requests
 * that arrive while a commit is on disk queue up and share the next commit (group commit), and
 * the fsync never blocks the server's event loop.
 */
const port = parentPort!;
const { path, busyTimeoutMs } = workerData as WorkerData;
const reply = (message: WriterReply) => port.postMessage(message);

try {
  const db = new Database(path, { timeout: busyTimeoutMs });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const jobs = new WriteJobs(db);
  const group = new GroupCommit(db, storeError);
  // The outcomes of one commit settle in one run of microtasks: they go back in one message.
  let outcomes: WriteOutcome[] = [];
  const answer = (outcome: WriteOutcome) => {
    if (outcomes.length === 0) {
      queueMicrotask(() => {
        const batch = outcomes;
        outcomes = [];
        reply({ type: 'outcomes', outcomes: batch });
      });
    }
    outcomes.push(outcome);
  };
  port.on('message', (message: WriterMessage) => {
    if (message.type === 'close') {
      group.flush();
      // Deferred commits (D90) may still wait for a sync: a checkpoint syncs the WAL first, so a
      // clean stop leaves nothing for the next start to finish.
      db.pragma('synchronous = FULL');
      db.pragma('wal_checkpoint(PASSIVE)');
      db.close();
      // The flushed writes' replies are posted from promise callbacks: let them run first.
      setImmediate(() => port.close());
      return;
    }
    for (const { id, request } of message.writes) {
      group.submit(jobs.jobFor(request as WriteRequest)).then(
        (result) => answer({ id, result }),
        (e: unknown) => {
          const error = storeError(e);
          answer({ id, error: { code: error.code, message: error.message, details: error.details } });
        },
      );
    }
  });
  reply({ type: 'ready' });
} catch (e) {
  const error = storeError(e);
  reply({ type: 'fatal', error: { code: error.code, message: error.message, details: error.details } });
}
