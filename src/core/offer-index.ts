import { mayUseService } from './access.js';
import type { CatalogChange, ChangeBus } from './changes.js';
import { keys } from './keys.js';
import type { Caller, Volume } from './model.js';
import type { Store } from './ports/store.js';

/** The fields of a volume that offers need (a volume offer, and who may see it). */
export type OfferableVolume = Pick<Volume, 'id' | 'service' | 'pool' | 'name' | 'sizeBytes' | 'type' | 'zone' | 'labels' | 'createdBy' | 'schedulers' | 'claim'>;

const VOLUMES = keys.volumes;
const FLUSH_BATCH = 500;

/** True for a volume a scheduler could be offered: available and attached nowhere (claims are checked by time when listing). */
export const isOfferable = (v: Volume): boolean => v.status === 'available' && v.attachments.length === 0;

/**
 * The volumes offers are made of, in memory, so listing a scheduler's offers touches only the
 * volumes it may see (offered to it or created by it) instead of reading every volume record.
 *
 * Kept current by core's change bus, which reports the keys of every committed write of this
 * process and — on a store shared by replicas — every write any replica makes (catalog-watch.ts):
 * a changed volume key is marked dirty and read again before the next listing; a change that may
 * cover many volumes (an erase, a watch that had to start over) rebuilds the index. Built on
 * first use (one walk), so a server that never lists offers pays nothing but the dirty marks.
 * Reads and rebuilds run one at a time, so a later read never loses to an earlier one.
 */
export class OfferIndex {
  private readonly volumes = new Map<string, OfferableVolume>();
  /** Scheduler name → ids of the offerable volumes it may see (offered to it or created by it). */
  private readonly bySched = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private live = false;
  private stale = true;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: () => void;
  /** Volume records read since the start (for tests and the benchmark: what listing costs). */
  reads = 0;

  constructor(private readonly store: Store, changes: ChangeBus) {
    this.unsubscribe = changes.subscribe((c) => this.onChange(c));
  }

  close(): void {
    this.unsubscribe();
  }

  private onChange(change: CatalogChange): void {
    if (!this.live) return;
    for (const k of change.keys) {
      if (k.startsWith(VOLUMES) && k.length > VOLUMES.length) this.dirty.add(k);
      else if (VOLUMES.startsWith(k)) this.stale = true; // '' (everything), or a prefix of volumes/
    }
  }

  /** Brings the index up to date with every write committed before the call. */
  current(): Promise<void> {
    const run = this.chain.then(() => this.update());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async update(): Promise<void> {
    if (this.stale) await this.rebuild();
    while (this.dirty.size > 0) {
      const batch = [...this.dirty].slice(0, FLUSH_BATCH);
      for (const k of batch) this.dirty.delete(k);
      try {
        const records = await this.store.getMany<Volume>(batch);
        this.reads += batch.length;
        batch.forEach((k, i) => this.put(k.slice(VOLUMES.length), records[i]?.value));
      } catch (e) {
        for (const k of batch) this.dirty.add(k); // read again next time
        throw e;
      }
    }
  }

  private async rebuild(): Promise<void> {
    // Changes from here on are marked; the walk may or may not see them, the flush after it does.
    this.live = true;
    this.stale = false;
    this.dirty.clear();
    this.volumes.clear();
    this.bySched.clear();
    let after: string | undefined;
    try {
      do {
        const page = await this.store.list<Volume>(VOLUMES, { limit: 1000, ...(after !== undefined ? { after } : {}) });
        this.reads += page.records.length;
        for (const { value: v } of page.records) this.put(v.id, v);
        after = page.next;
      } while (after !== undefined);
    } catch (e) {
      this.stale = true;
      throw e;
    }
  }

  /** Puts a volume's current record (undefined: gone) into the index. */
  private put(id: string, v: Volume | undefined): void {
    const old = this.volumes.get(id);
    if (old) {
      this.volumes.delete(id);
      for (const s of audienceOf(old)) {
        const set = this.bySched.get(s);
        set?.delete(id);
        if (set?.size === 0) this.bySched.delete(s);
      }
    }
    if (!v || !isOfferable(v)) return;
    const entry: OfferableVolume = {
      id: v.id, service: v.service, pool: v.pool, name: v.name, sizeBytes: v.sizeBytes, type: v.type, zone: v.zone,
      labels: v.labels, createdBy: v.createdBy, schedulers: v.schedulers, claim: v.claim,
    };
    this.volumes.set(id, entry);
    for (const s of audienceOf(entry)) {
      let set = this.bySched.get(s);
      if (!set) this.bySched.set(s, (set = new Set()));
      set.add(id);
    }
  }

  /** Offerable volumes `audience` may see (D9), in id order. Call after `current()`. */
  visibleTo(audience: Caller): OfferableVolume[] {
    let out: OfferableVolume[];
    if (audience.kind === 'admin') out = [...this.volumes.values()];
    else {
      out = [];
      for (const id of this.bySched.get(audience.name) ?? []) {
        const v = this.volumes.get(id)!;
        if (mayUseService(audience, v.service)) out.push(v);
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** How many offerable volumes the index holds. */
  get size(): number {
    return this.volumes.size;
  }
}

function audienceOf(v: OfferableVolume): string[] {
  return v.createdBy !== undefined && !v.schedulers.includes(v.createdBy) ? [...v.schedulers, v.createdBy] : [...v.schedulers];
}
