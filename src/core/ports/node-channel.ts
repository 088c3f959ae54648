/**
 * NodeChannel port: how the server asks a node's agent to do node-side work.
 * The agent dials the server (so it works through NAT), reconnects on loss, and replays
 * in-flight operations idempotently; every operation is keyed by an operation id.
 * Implementations arrive with the agent; core only depends on this shape.
 */
export interface NodeOperation {
  readonly opId: string;
  readonly nodeId: string;
  readonly kind:
    | 'attach' | 'detach' | 'stage' | 'unstage' | 'publish' | 'unpublish' | 'create' | 'delete' | 'capacity' | 'list' | 'inventory'
    | 'snapshot' | 'deleteSnapshot' | 'expand';
  readonly volumeId: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export interface NodeOperationResult {
  readonly opId: string;
  readonly ok: boolean;
  readonly result?: Readonly<Record<string, unknown>>;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface NodeChannel {
  /** Sends an operation to the node's agent and resolves with its acknowledged result. */
  dispatch(op: NodeOperation, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<NodeOperationResult>;
  /** Nodes with a live connection. */
  connectedNodes(): readonly string[];
}

/** A channel with no agents (a server without the node channel): every dispatch fails as UNAVAILABLE. */
export const noNodeChannel: NodeChannel = {
  dispatch: (op) => Promise.resolve({ opId: op.opId, ok: false, error: { code: 'UNAVAILABLE', message: `node ${op.nodeId} has no connected agent` } }),
  connectedNodes: () => [],
};
