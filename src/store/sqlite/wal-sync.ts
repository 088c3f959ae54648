import { open, type FileHandle } from 'node:fs/promises';
import { CoalescedRuns } from '../../core/coalesced-runs.js';

/**
 * Makes the store's write-ahead log durable: one fdatasync of `<store>-wal` per round, shared by
 * every commit made before the round began (see CoalescedRuns), on libuv's thread pool so the
 * event loop never waits for the disk. The WAL keeps its inode while a connection is open
 * (SQLite rewinds it after a checkpoint, it does not replace it), so the file stays open.
 */
export class WalSync {
  private handle: Promise<FileHandle> | undefined;
  private readonly rounds = new CoalescedRuns(() => this.fdatasync());

  constructor(private readonly walPath: string) {}

  /** Settles once everything committed before the call is on disk. */
  sync(): Promise<void> {
    return this.rounds.run();
  }

  private async fdatasync(): Promise<void> {
    const opened = (this.handle ??= open(this.walPath, 'r'));
    let handle: FileHandle;
    try {
      handle = await opened;
    } catch (e) {
      if (this.handle === opened) this.handle = undefined;
      throw e;
    }
    await handle.datasync();
  }

  /** Waits for the rounds under way, then closes the file. */
  async close(): Promise<void> {
    await this.rounds.idle();
    const opened = this.handle;
    this.handle = undefined;
    await opened?.then((fh) => fh.close(), () => undefined);
  }
}
