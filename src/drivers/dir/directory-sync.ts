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
 * A directory stays open between rounds (the driver's layout, paths included, is fixed once
 * checked); a failed fsync closes it, and the next round opens it again.
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
