import { randomBytes } from 'node:crypto';
import type { CatalogChange } from './changes.js';
import type { CoreContext } from './context.js';
import type { Caller } from './model.js';
import { computeOffers, computeOffersFor, type Offer } from './offers.js';

/** One change of a scheduler's offers, or the whole set (first event, or when a resume is too old). */
export type OfferEvent =
  | { readonly id: string; readonly type: 'snapshot'; readonly offers: readonly Offer[] }
  | { readonly id: string; readonly type: 'added' | 'changed'; readonly offer: Offer }
  | { readonly id: string; readonly type: 'rescinded'; readonly offerId: string };

export interface OfferFeedOptions {
  /** Events kept per audience for resuming (older ids get a snapshot). */
  readonly logSize?: number;
  /** Changes arriving within this window are folded into one recompute. */
  readonly debounceMs?: number;
  /** Safety net: recompute this often even without change notifications. */
  readonly resyncMs?: number;
  /** An audience nobody watches is forgotten after this long (its resume log with it). */
  readonly idleMs?: number;
}

export interface OfferSubscription {
  /** Events to send first: the missed events after the resume id, or one snapshot. */
  readonly replay: readonly OfferEvent[];
  unsubscribe(): void;
}

interface Entry {
  readonly offer: Offer;
  readonly fingerprint: string;
}

interface Seq {
  readonly seq: number;
  readonly event: OfferEvent;
}

interface AudienceFeed {
  readonly audience: Caller;
  offers: Map<string, Entry>;
  readonly log: Seq[];
  /** Events up to this sequence number may be missing from the log. */
  floor: number;
  readonly listeners: Set<(e: OfferEvent) => void>;
  idleSince: number;
}

/** Keys whose changes cannot change an offer. */
const IRRELEVANT = ['idempotency/', 'snapshots/', 'snapshot-names/', 'volume-names/'];

/**
 * Live offers per audience (scheduler), as a stream of added / changed / rescinded events with
 * resumable ids. Driven by core's change notifications (debounced), with a slow periodic
 * recompute as a safety net and a timer for offers that come back by themselves (a refuse period
 * or a volume claim ending). Computations run one at a time, so every audience sees its events in
 * order and a subscriber never misses one between its replay and its first live event.
 */
export class OfferFeed {
  private readonly feeds = new Map<string, AudienceFeed>();
  private readonly epoch = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private debounce: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;
  private closed = false;
  private readonly unsubscribeChanges: () => void;
  private readonly logSize: number;
  private readonly debounceMs: number;
  private readonly resyncMs: number;
  private readonly idleMs: number;

  constructor(private readonly ctx: CoreContext, options: OfferFeedOptions = {}) {
    this.logSize = options.logSize ?? 1000;
    this.debounceMs = options.debounceMs ?? 50;
    this.resyncMs = options.resyncMs ?? 30_000;
    this.idleMs = options.idleMs ?? 5 * 60_000;
    this.unsubscribeChanges = ctx.changes.subscribe((c) => this.onChange(c));
  }

  /** The id a client would resume from now (the newest event of any audience). */
  get position(): string {
    return `${this.epoch}.${this.seq}`;
  }

  /**
   * Starts watching `audience`'s offers. With `lastEventId` from this server's stream and still in
   * the log, `replay` holds every event after it; otherwise one snapshot of the current offers.
   */
  subscribe(audience: Caller, lastEventId: string | undefined, listener: (e: OfferEvent) => void): Promise<OfferSubscription> {
    return this.serialize(async () => {
      const feed = await this.feedOf(audience);
      const after = this.parseId(lastEventId);
      const replay: OfferEvent[] =
        after !== undefined && after >= feed.floor && after <= this.seq
          ? feed.log.filter((s) => s.seq > after).map((s) => s.event)
          : [{ id: this.position, type: 'snapshot', offers: [...feed.offers.values()].map((e) => e.offer) }];
      feed.listeners.add(listener);
      this.startResync();
      return {
        replay,
        unsubscribe: () => {
          feed.listeners.delete(listener);
          if (feed.listeners.size === 0) feed.idleSince = this.ctx.clock.now();
        },
      };
    });
  }

  /** Recomputes every watched audience now (also what the timers do). */
  refresh(): Promise<void> {
    return this.serialize(() => this.round());
  }

  close(): void {
    this.closed = true;
    this.unsubscribeChanges();
    clearTimeout(this.debounce);
    clearInterval(this.resync);
    if (this.wake) clearTimeout(this.wake.timer);
    for (const f of this.feeds.values()) f.listeners.clear();
    this.feeds.clear();
  }

  private onChange(change: CatalogChange): void {
    if (this.closed || this.feeds.size === 0 || this.debounce !== undefined) return;
    if (change.keys.length > 0 && change.keys.every((k) => IRRELEVANT.some((p) => k.startsWith(p)))) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, this.debounceMs);
    this.debounce.unref();
  }

  private startResync(): void {
    if (this.resync !== undefined || this.closed) return;
    this.resync = setInterval(() => void this.refresh(), this.resyncMs);
    this.resync.unref();
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async feedOf(audience: Caller): Promise<AudienceFeed> {
    const key = audienceKey(audience);
    let feed = this.feeds.get(key);
    if (feed) return feed;
    const { offers, wakeAt } = await computeOffers(this.ctx, audience);
    // Nothing before this point was logged for the audience: older resume ids get a snapshot.
    feed = { audience, offers: new Map(), log: [], floor: this.seq, listeners: new Set(), idleSince: this.ctx.clock.now() };
    for (const o of offers) feed.offers.set(o.id, { offer: o, fingerprint: fingerprintOf(o) });
    this.feeds.set(key, feed);
    if (wakeAt !== undefined) this.wakeAt(wakeAt);
    return feed;
  }

  private async round(): Promise<void> {
    if (this.closed) return;
    const now = this.ctx.clock.now();
    for (const [key, feed] of this.feeds) {
      if (feed.listeners.size === 0 && now - feed.idleSince > this.idleMs) this.feeds.delete(key);
    }
    const feeds = [...this.feeds.values()];
    if (feeds.length > 0) {
      let computed;
      try {
        computed = await computeOffersFor(this.ctx, feeds.map((f) => f.audience));
      } catch (e) {
        this.ctx.logger.warn({ err: e }, 'computing offers failed; the next change or resync retries');
        return;
      }
      if (this.closed) return;
      feeds.forEach((feed, i) => {
        const set = computed[i]!;
        if (set.wakeAt !== undefined) this.wakeAt(set.wakeAt);
        // A feed forgotten meanwhile (closed) is skipped.
        if (this.feeds.get(audienceKey(feed.audience)) === feed) this.diff(feed, set.offers);
      });
    }
    if (this.feeds.size === 0) {
      clearInterval(this.resync);
      this.resync = undefined;
    }
  }

  private diff(feed: AudienceFeed, offers: readonly Offer[]): void {
    const next = new Map<string, Entry>();
    for (const offer of offers) {
      const fingerprint = fingerprintOf(offer);
      next.set(offer.id, { offer, fingerprint });
      const before = feed.offers.get(offer.id);
      if (!before) this.append(feed, (id) => ({ id, type: 'added', offer }));
      else if (before.fingerprint !== fingerprint) this.append(feed, (id) => ({ id, type: 'changed', offer }));
    }
    for (const offerId of feed.offers.keys()) {
      if (!next.has(offerId)) this.append(feed, (id) => ({ id, type: 'rescinded', offerId }));
    }
    feed.offers = next;
  }

  private append(feed: AudienceFeed, make: (id: string) => OfferEvent): void {
    const seq = ++this.seq;
    const event = make(`${this.epoch}.${seq}`);
    feed.log.push({ seq, event });
    if (feed.log.length > this.logSize) feed.floor = feed.log.shift()!.seq;
    for (const l of feed.listeners) {
      try {
        l(event);
      } catch (e) {
        this.ctx.logger.warn({ err: e }, 'an offer watcher failed');
      }
    }
  }

  /** Schedules a recompute when an offer comes back by itself. */
  private wakeAt(at: number): void {
    if (this.closed || (this.wake && this.wake.at <= at)) return;
    if (this.wake) clearTimeout(this.wake.timer);
    const timer = setTimeout(() => {
      this.wake = undefined;
      void this.refresh();
    }, Math.max(0, at - this.ctx.clock.now()) + 5);
    timer.unref();
    this.wake = { at, timer };
  }

  /** The sequence number of one of this server's event ids; undefined for anything else. */
  private parseId(id: string | undefined): number | undefined {
    if (id === undefined) return undefined;
    const dot = id.lastIndexOf('.');
    if (dot < 0 || id.slice(0, dot) !== this.epoch) return undefined;
    const n = Number(id.slice(dot + 1));
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  }
}

/**
 * What can change in an offer: a pool's spec is fixed while the server runs, so a capacity offer
 * changes only in its sizes; a volume offer in any field.
 */
const fingerprintOf = (o: Offer): string => (o.kind === 'capacity' ? `${o.freeBytes}/${o.maxVolumeBytes}` : JSON.stringify(o));

const audienceKey = (a: Caller): string => JSON.stringify([a.kind, a.name, a.kind === 'scheduler' ? a.services : '*']);
