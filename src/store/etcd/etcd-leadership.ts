import type { Campaign, Election, ElectionObserver, Etcd3, Namespace } from 'etcd3';
import type { Logger } from '../../core/ports/logger.js';
import type { Leadership } from '../../core/ports/leadership.js';

const RETRY_MS = 500;

/**
 * Leader election on etcd (the etcd3 client's election recipe): each replica campaigns with a
 * lease of `ttlSeconds`; the oldest live campaign key under `<prefix>leader/` leads. A leader
 * that dies stops renewing its lease, the key goes when the lease expires (after at most
 * `ttlSeconds`) and the next campaign is elected. A leader that loses its lease (etcd
 * unreachable for longer than the TTL) steps down at once and campaigns again.
 */
export class EtcdLeadership implements Leadership {
  private readonly election: Election;
  private readonly campaigns: Namespace;
  private campaign?: Campaign;
  private observer?: ElectionObserver;
  private current?: AbortController;
  private closed = false;
  private leaderName?: string;
  private retry?: NodeJS.Timeout;
  private quiet = false;

  /** `prefix`: a key prefix of its own, outside the store's data (EtcdStore.coordinationPrefix). */
  constructor(
    client: Etcd3,
    prefix: string,
    ttlSeconds: number,
    readonly candidate: string,
    private readonly logger: Logger,
  ) {
    this.campaigns = client.namespace(prefix);
    this.election = this.campaigns.election('leader', ttlSeconds);
  }

  start(lead: (signal: AbortSignal) => void): void {
    this.campaignOnce(lead);
    void this.observe();
  }

  isLeader(): boolean {
    return this.current !== undefined && !this.current.signal.aborted;
  }

  leader(): string | undefined {
    return this.isLeader() ? this.candidate : this.leaderName;
  }

  async liveReplicas(): Promise<ReadonlySet<string>> {
    // Every campaign, the leader's and those waiting, is a key bound to its replica's lease.
    return new Set(Object.values(await this.campaigns.getAll().prefix('leader/').strings()));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.stepDown('closing');
    this.observer?.removeAllListeners();
    await Promise.allSettled([this.campaign?.resign(), this.observer?.cancel()]);
  }

  private campaignOnce(lead: (signal: AbortSignal) => void): void {
    if (this.closed) return;
    const campaign = this.election.campaign(this.candidate);
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (this.closed || this.campaign !== campaign) return;
      this.quiet = false;
      this.current = new AbortController();
      this.leaderName = this.candidate;
      this.logger.info({ candidate: this.candidate }, 'elected leader: running the background loops');
      lead(this.current.signal);
    });
    let failed = false;
    // The listener stays for the campaign's whole life: an 'error' without one would crash.
    campaign.on('error', (err: unknown) => {
      if (failed || this.campaign !== campaign) return;
      failed = true;
      this.stepDown('campaign failed');
      // Once per outage at warn level; the retries every RETRY_MS go to debug.
      (this.quiet ? this.logger.debug : this.logger.warn).call(this.logger, { err, candidate: this.candidate }, 'leader election: campaign failed; campaigning again');
      this.quiet = true;
      void campaign.resign().catch(() => undefined);
      this.retry = setTimeout(() => this.campaignOnce(lead), RETRY_MS);
      this.retry.unref();
    });
  }

  private stepDown(why: string): void {
    if (this.current === undefined) return;
    const c = this.current;
    this.current = undefined;
    if (!c.signal.aborted) {
      this.logger.warn({ candidate: this.candidate, why }, 'no longer the leader: background loops stopped');
      c.abort();
    }
  }

  /** Follows who leads (for status output); recreated only when the observer fails. */
  private async observe(): Promise<void> {
    while (!this.closed) {
      try {
        const observer = await this.election.observe();
        if (this.closed) return void (await observer.cancel());
        this.observer = observer;
        this.leaderName = observer.leader();
        observer.on('change', (name: string | undefined) => {
          this.leaderName = name;
        });
        await new Promise<void>((resolve) => observer.on('error', () => resolve()));
        await observer.cancel().catch(() => undefined);
      } catch {
        // etcd unreachable: look again shortly
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, RETRY_MS).unref());
    }
  }
}
