import type { NodeRecord, NodeState } from './model.js';

export interface LeaseTimes {
  readonly graceMs: number;
  /** When this server started: nobody's lease runs out sooner than a lease after it. */
  readonly startedAt: number;
}

/** When the node's lease ends: a lease after its last renewal (or after the server started). */
export const leaseDeadline = (node: NodeRecord, times: LeaseTimes): number =>
  Math.max(node.renewedAt, times.startedAt) + node.leaseMs;

/** When an unreachable node is fenced. */
export const fenceDeadline = (node: NodeRecord, times: LeaseTimes): number => leaseDeadline(node, times) + times.graceMs;

/**
 * The state a node's lease puts it in at `now`, or undefined when nothing changes:
 * a `ready` (or `recovering`) node whose lease ran out becomes `unreachable`, an unreachable node
 * past the grace period is to be fenced. The in-process agent's node never expires while its
 * server runs (it renews in the same process).
 */
export function leaseTransition(node: NodeRecord, now: number, times: LeaseTimes): NodeState | undefined {
  if (node.state === 'fenced') return undefined;
  if (now >= fenceDeadline(node, times)) return 'fenced';
  if ((node.state === 'ready' || node.state === 'recovering') && now >= leaseDeadline(node, times)) return 'unreachable';
  return undefined;
}
