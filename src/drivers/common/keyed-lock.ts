export type LockMode = 'shared' | 'exclusive';

export interface LockRequest {
  readonly key: string;
  readonly mode: LockMode;
}

interface Waiter {
  readonly mode: LockMode;
  readonly grant: () => void;
}

interface KeyState {
  shared: number;
  exclusive: boolean;
  readonly queue: Waiter[];
}

/**
 * In-process readers/writer locks by key, granted in arrival order. Used so that two calls
 * for the same volume id run one after the other (the second then takes the idempotent path)
 * and a volume is not deleted while it is being copied.
 */
export class KeyedLock {
  private readonly states = new Map<string, KeyState>();

  /** Runs `fn` holding every requested lock. Locks are taken in key order, so callers cannot deadlock. */
  async run<T>(requests: readonly LockRequest[], signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const merged = new Map<string, LockMode>();
    for (const r of requests) merged.set(r.key, merged.get(r.key) === 'exclusive' ? 'exclusive' : r.mode);
    const ordered = [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const held: [string, LockMode][] = [];
    try {
      for (const [key, mode] of ordered) {
        await this.acquire(key, mode, signal);
        held.push([key, mode]);
      }
      return await fn();
    } finally {
      for (const [key, mode] of held.reverse()) this.release(key, mode);
    }
  }

  /** True while anyone holds or waits for `key`. */
  isBusy(key: string): boolean {
    return this.states.has(key);
  }

  private acquire(key: string, mode: LockMode, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    let state = this.states.get(key);
    if (!state) {
      state = { shared: 0, exclusive: false, queue: [] };
      this.states.set(key, state);
    }
    if (state.queue.length === 0 && compatible(state, mode)) {
      take(state, mode);
      return Promise.resolve();
    }
    const s = state;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = s.queue.indexOf(waiter);
        if (i >= 0) s.queue.splice(i, 1);
        this.drain(key, s);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        mode,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      s.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(key: string, mode: LockMode): void {
    const state = this.states.get(key);
    if (!state) return;
    if (mode === 'exclusive') state.exclusive = false;
    else state.shared--;
    this.drain(key, state);
  }

  /** Grants queued waiters from the front while they are compatible; forgets idle keys. */
  private drain(key: string, state: KeyState): void {
    while (state.queue.length > 0 && compatible(state, state.queue[0]!.mode)) {
      const waiter = state.queue.shift()!;
      take(state, waiter.mode);
      waiter.grant();
    }
    if (state.queue.length === 0 && state.shared === 0 && !state.exclusive) this.states.delete(key);
  }
}

const compatible = (state: KeyState, mode: LockMode): boolean =>
  mode === 'shared' ? !state.exclusive : !state.exclusive && state.shared === 0;

function take(state: KeyState, mode: LockMode): void {
  if (mode === 'exclusive') state.exclusive = true;
  else state.shared++;
}
