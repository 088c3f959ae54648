import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

interface Round {
  readonly done: Promise<void>;
  start(): void;
}

/**
 * Group fsync of directories: callers that need a directory's new entries on disk share one
 * fsync. A caller arriving while an fsync runs may have changed the directory after it began,
 * so it joins the next round, which starts when the running one ends. Under load this turns
 * one fsync per create into one per round, with the same guarantee for every caller.
 *
 * A directory stays open between rounds, as long as the driver's checked layout stands; a failed
 * fsync closes it, and so does `reset()` (the driver's layout is checked again after any failed
 * operation, and a directory replaced meanwhile must not be synced through its old inode).
 */
export class DirectorySync {
  private readonly running = new Map<string, Promise<void>>();
  private readonly next = new Map<string, Round>();
  private readonly handles = new Map<string, Promise<FileHandle>>();

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
    const done = this.fsync(dir).finally(() => {
      if (this.running.get(dir) === done) this.running.delete(dir);
    });
    this.running.set(dir, done);
    return done;
  }

  private async fsync(dir: string): Promise<void> {
    let opened = this.handles.get(dir);
    if (opened === undefined) {
      opened = open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      this.handles.set(dir, opened);
    }
    let handle: FileHandle;
    try {
      handle = await opened;
    } catch (e) {
      this.handles.delete(dir);
      throw e;
    }
    try {
      await handle.sync();
    } catch (e) {
      this.handles.delete(dir);
      await handle.close().catch(() => undefined);
      throw e;
    }
  }

  /** Forgets the directories kept open; each is closed once a round running on it ends. */
  reset(): void {
    for (const [dir, opened] of this.handles) {
      this.handles.delete(dir);
      const running = this.running.get(dir) ?? Promise.resolve();
      void running.catch(() => undefined).then(() => opened).then((fh) => fh.close(), () => undefined).catch(() => undefined);
    }
  }

  /** Closes the directories kept open; call when no sync can start any more. */
  async close(): Promise<void> {
    const open = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(open.map((h) => h.then((fh) => fh.close(), () => undefined)));
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
