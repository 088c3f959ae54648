import type { Labels, PoolSpec } from '../model.js';

/** What a new volume asks of a pool. */
export interface PlacementRequest {
  readonly service: string;
  readonly sizeBytes: number;
  readonly type?: string;
  readonly iops: number;
  /** Acceptable zones (any when empty). */
  readonly zones: readonly string[];
  /** Acceptable nodes for node-local pools (any when empty). */
  readonly nodes: readonly string[];
  readonly requiredLabels: Labels;
  /** Only these pools (e.g. the pool holding the clone source), when set. */
  readonly pools?: readonly string[];
}

/** A pool as placement sees it: spec, bookkeeping and live capacity. */
export interface PoolCandidate {
  /** Cluster-wide id, `<service>/<pool>`; never parsed. */
  readonly id: string;
  readonly service: string;
  readonly spec: PoolSpec;
  /** Bytes provisioned (available or attached volumes). */
  readonly provisionedBytes: number;
  /** Bytes reserved by volumes being created and by claims. */
  readonly reservedBytes: number;
  readonly volumes: number;
  /** Usable bytes before overcommit: the configured cap or the backend's total. */
  readonly totalBytes: number;
}

/** Capacity a pool can still give: total × overcommit − provisioned − reserved. */
export const availableBytes = (p: PoolCandidate): number =>
  Math.max(0, Math.floor(p.totalBytes * p.spec.overcommit) - p.provisionedBytes - p.reservedBytes);

/** Per-decision state shared by the plugins (e.g. volumes per zone for spreading). */
export interface PlacementContext {
  readonly request: PlacementRequest;
  /** Volumes of the service per zone, over all its pools. */
  readonly zoneVolumes: ReadonlyMap<string, number>;
}

/** A filter returns undefined when the pool fits, or the reason it does not. */
export interface FilterPlugin {
  readonly name: string;
  /**
   * True when the verdict depends on the pool's usage (not only on its spec and the request);
   * static verdicts are cached per request shape by the framework.
   */
  readonly dynamic?: boolean;
  filter(ctx: PlacementContext, pool: PoolCandidate): string | undefined;
}

/** A scorer returns 0..100 (higher is better); the framework applies weights. */
export interface ScorePlugin {
  readonly name: string;
  score(ctx: PlacementContext, pool: PoolCandidate): number;
}

export interface PoolVerdict {
  readonly pool: string;
  readonly reason: string;
}

export type PlacementResult =
  | { readonly ok: true; readonly pool: PoolCandidate; readonly score: number; readonly evaluated: number }
  | { readonly ok: false; readonly verdicts: readonly PoolVerdict[] };
