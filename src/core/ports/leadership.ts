/**
 * Leadership port: which one of several server replicas runs the background loops (reconciler,
 * expiry). Implementations elect through the shared store (etcd: a lease-bound election key).
 */
export interface Leadership {
  /** This replica's name in the election (shown by /v1/system and the logs). */
  readonly candidate: string;
  /**
   * Campaigns until `close()`: calls `lead` each time this replica becomes the leader, with a
   * signal that aborts as soon as it stops being one (lease lost, store unreachable, closing).
   */
  start(lead: (signal: AbortSignal) => void): void;
  isLeader(): boolean;
  /** The current leader's name, as far as this replica knows. */
  leader(): string | undefined;
  /**
   * The names of the replicas alive now (campaigning or leading, this one included); a replica
   * that died drops out once its lease expires.
   */
  liveReplicas(): Promise<ReadonlySet<string>>;
  /** Resigns (letting another replica take over at once) and stops campaigning. */
  close(): Promise<void>;
}
