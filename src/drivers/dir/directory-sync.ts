import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CoalescedRuns } from '../../core/coalesced-runs.js';

/**
 * Group fsync of directories: callers that need a directory's new entries on disk share one
 * fsync (see CoalescedRuns). Under load this turns one fsync per create into one per round,
 * with the same guarantee for every caller.
 *
 * A directory stays open between rounds, as long as the driver's checked layout stands; a failed
 * fsync closes it, and so does `reset()` (the driver's layout is checked again after any failed
 * operation, and a directory replaced meanwhile must not be synced through its old inode).
 */
export class DirectorySync {
  private readonly rounds = new Map<string, CoalescedRuns>();
  private readonly handles = new Map<string, Promise<FileHandle>>();

  sync(dir: string): Promise<void> {
    let rounds = this.rounds.get(dir);
    if (rounds === undefined) {
      rounds = new CoalescedRuns(() => this.fsync(dir));
      this.rounds.set(dir, rounds);
    }
    return rounds.run();
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
      if (this.handles.get(dir) === opened) this.handles.delete(dir);
      throw e;
    }
    try {
      await handle.sync();
    } catch (e) {
      if (this.handles.get(dir) === opened) this.handles.delete(dir);
      await handle.close().catch(() => undefined);
      throw e;
    }
  }

  /** Forgets the directories kept open; each is closed once a round running on it ends. */
  reset(): void {
    for (const [dir, opened] of this.handles) {
      this.handles.delete(dir);
      const idle = this.rounds.get(dir)?.idle() ?? Promise.resolve();
      void idle.then(() => opened).then((fh) => fh.close(), () => undefined).catch(() => undefined);
    }
  }

  /** Closes the directories kept open; call when no sync can start any more. */
  async close(): Promise<void> {
    const open = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(open.map((h) => h.then((fh) => fh.close(), () => undefined)));
  }
}
