import { syncDirectory } from '../common/write-file-atomic.js';

interface Round {
  readonly done: Promise<void>;
  start(): void;
}

/**
 * Group fsync of directories: callers that need a directory's new entries on disk share one
 * fsync. A caller arriving while an fsync runs may have changed the directory after it began,
 * so it joins the next round, which starts when the running one ends. Under load this turns
 * one fsync per create into one per round, with the same guarantee for every caller.
 */
export class DirectorySync {
  private readonly running = new Map<string, Promise<void>>();
  private readonly next = new Map<string, Round>();

  sync(dir: string): Promise<void> {
    const queued = this.next.get(dir);
    if (queued) return queued.done;
    const current = this.running.get(dir);
    if (current === undefined) return this.run(dir);
    const round = this.round(dir);
    this.next.set(dir, round);
    current.then(round.start, round.start);
    return round.done;
  }

  private run(dir: string): Promise<void> {
    const done = syncDirectory(dir).finally(() => {
      if (this.running.get(dir) === done) this.running.delete(dir);
    });
    this.running.set(dir, done);
    return done;
  }

  private round(dir: string): Round {
    let start!: () => void;
    const done = new Promise<void>((resolve, reject) => {
      start = () => {
        this.next.delete(dir);
        this.run(dir).then(resolve, reject);
      };
    });
    return { done, start };
  }
}
