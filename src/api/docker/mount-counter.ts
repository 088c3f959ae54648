/**
 * Who uses a mounted volume on this host: Docker sends one Mount per container start and one
 * Unmount per stop, each with the caller's ID. The volume stays mounted while any ID holds it.
 * Kept in memory: after a restart Docker's next Unmount of an unknown ID for a volume nobody
 * holds counts as the last one, so nothing stays mounted for ever.
 */
export class MountCounter {
  private readonly holders = new Map<string, Set<string>>();

  /** Adds a holder; true when it is the first (the volume must be mounted now). */
  add(volumeId: string, mountId: string): boolean {
    let set = this.holders.get(volumeId);
    const first = set === undefined || set.size === 0;
    if (!set) this.holders.set(volumeId, (set = new Set()));
    set.add(mountId);
    return first;
  }

  /** Removes a holder; true when none is left (the volume must be unmounted now). */
  remove(volumeId: string, mountId: string): boolean {
    const set = this.holders.get(volumeId);
    if (!set) return true;
    set.delete(mountId);
    if (set.size > 0) return false;
    this.holders.delete(volumeId);
    return true;
  }

  /** Undoes an `add` whose mount failed. */
  forget(volumeId: string, mountId: string): void {
    this.remove(volumeId, mountId);
  }

  count(volumeId: string): number {
    return this.holders.get(volumeId)?.size ?? 0;
  }
}

/** Runs work for one key after the previous work for the same key has finished. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
