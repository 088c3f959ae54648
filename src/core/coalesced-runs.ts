/**
 * Runs an async action for many callers at once: a call while no run is going starts one; a
 * call while a run is going joins the next, which starts when that one ends (the running one
 * may have begun before the caller's change). Every caller thus gets a run that started after
 * its call, and a burst of N callers costs two runs instead of N. Used for fsyncs, which
 * cover everything written before they start.
 */
export class CoalescedRuns {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly action: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.next !== undefined) return this.next;
    if (this.running === undefined) return this.start();
    const after = this.running.then(
      () => undefined,
      () => undefined,
    );
    this.next = after.then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** Settles once no run is going or queued (a failed run counts as ended). */
  async idle(): Promise<void> {
    while (this.running !== undefined || this.next !== undefined) await (this.next ?? this.running)!.catch(() => undefined);
  }

  private start(): Promise<void> {
    const run = (async () => this.action())().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}
