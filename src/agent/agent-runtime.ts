import type { NodePool, ServiceSpec } from '../core/model.js';
import type { AgentHello } from '../core/nodes.js';
import type { Logger } from '../core/ports/logger.js';
import type { StorageDriver } from '../core/ports/storage-driver.js';
import { ErrorCodes, PollyError, type ErrorCode } from '../core/errors.js';
import { monotonicNow } from './monotonic-clock.js';
import { NodeExecutor } from './node-executor.js';
import { CALL_TIMEOUT_MS, type AgentMessage, type CallAnswer, type ServerMessage } from './protocol.js';

/** A pool this agent contributes: the server's view plus the driver settings only the node knows. */
export interface LocalPool extends NodePool {
  /** Driver parameters of the pool on this node (e.g. the dir driver's path). */
  readonly params: Readonly<Record<string, unknown>>;
}

export interface AgentOptions {
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly pools: readonly LocalPool[];
  readonly devices: readonly string[];
  readonly mountDir: string;
  readonly version: string;
  readonly inProcess: boolean;
  /** Builds a driver for a service (the composition root passes the driver registry). */
  readonly makeDriver: (spec: ServiceSpec) => StorageDriver;
  readonly logger: Logger;
  /** Unmount everything when the lease cannot be renewed (off for the in-process agent, and when a fence guard does it). */
  readonly selfFence: boolean;
  /**
   * Told the self-fence deadline (monotonic ms, see monotonicNow: lease + grace/2 after the last
   * acknowledged heartbeat) whenever it moves: the fence guard's input (D82).
   */
  readonly onLease?: (deadline: number) => void;
}

export type Send = (message: AgentMessage) => void;

/**
 * The agent's side of one connection, independent of the transport: hello → welcome (the
 * server's services) → report of what the kernel holds → operations and heartbeats. Between
 * connections it keeps its drivers and its op results (so replays get the same answer).
 *
 * Self-fencing: when no heartbeat was acknowledged for a lease plus half the grace period, the
 * server is about to fence this node; the agent unmounts and releases everything first, so it
 * never writes to a volume the server gives to another node.
 */
export class AgentRuntime {
  readonly executor: NodeExecutor;
  private drivers = new Map<string, StorageDriver>();
  private specsKey = '';
  private send: Send | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly sentAt = new Map<number, number>();
  /** Monotonic ms (monotonicNow) of the last send the server acknowledged: a heartbeat, or the hello it registered. */
  private lastAckAt = monotonicNow();
  private helloAt = monotonicNow();
  private lease = { leaseMs: 10_000, graceMs: 5_000 };
  private fenceTimer: NodeJS.Timeout | undefined;
  private fencing: Promise<void> | undefined;
  private callSeq = 0;
  private readonly calls = new Map<number, { resolve: (a: CallAnswer) => void; timer: NodeJS.Timeout }>();
  private registered = false;
  state = 'disconnected';

  constructor(private readonly options: AgentOptions) {
    this.executor = new NodeExecutor(options.mountDir, () => this.drivers, options.logger);
    if (options.selfFence) {
      this.fenceTimer = setInterval(() => this.checkSelfFence(), 250);
      this.fenceTimer.unref();
    }
  }

  hello(): AgentHello {
    const o = this.options;
    return {
      nodeId: o.nodeId, labels: o.labels, devices: o.devices, version: o.version, inProcess: o.inProcess,
      pools: o.pools.map(({ params: _params, ...pool }) => pool),
    };
  }

  /** A connection opened. */
  connected(send: Send): void {
    this.send = send;
    this.state = 'connecting';
    this.helloAt = monotonicNow();
    send({ t: 'hello', hello: this.hello() });
  }

  /** The connection closed. */
  disconnected(): void {
    this.send = undefined;
    this.registered = false;
    this.state = 'disconnected';
    for (const [id, c] of this.calls) {
      clearTimeout(c.timer);
      c.resolve({ ok: false, code: 'UNAVAILABLE', message: 'the connection to the server was lost during the call; retry' });
      this.calls.delete(id);
    }
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  async handle(message: ServerMessage): Promise<void> {
    const send = this.send;
    if (!send) return;
    switch (message.t) {
      case 'welcome': {
        this.registered = true;
        this.lease = { leaseMs: message.leaseMs, graceMs: message.graceMs };
        // The server renewed the lease when it registered the hello: count from its sending, so
        // the time on the way does not eat the guard's margin before the server's fence.
        this.lastAckAt = this.helloAt;
        this.leaseMoved();
        // Heartbeats start now, also while operations of the lost connection still run (a long
        // clone): a busy node must not be fenced, by its guard or by the server.
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => this.beat(), message.heartbeatMs);
        this.heartbeat.unref();
        await this.buildDrivers(message.services);
        if (this.fencing) await this.fencing;
        await this.executor.idle(); // only the report waits for the operations of the lost connection
        const attached = await this.executor.attached();
        if (this.send !== send) return; // that connection is gone; the next one reports
        this.state = 'recovering';
        send({ t: 'report', attached });
        return;
      }
      case 'hbAck': {
        const at = this.sentAt.get(message.seq);
        if (at !== undefined) this.lastAckAt = Math.max(this.lastAckAt, at);
        for (const s of this.sentAt.keys()) if (s <= message.seq) this.sentAt.delete(s);
        this.leaseMoved();
        return;
      }
      case 'state':
        this.state = message.state;
        this.options.logger.info({ state: message.state }, message.message);
        return;
      case 'op': {
        send({ t: 'ack', opId: message.op.opId });
        const result = await this.executor.run(message.op);
        this.send?.({ t: 'result', result });
        return;
      }
      case 'answer': {
        const c = this.calls.get(message.id);
        if (!c) return;
        clearTimeout(c.timer);
        this.calls.delete(message.id);
        c.resolve(message.answer);
        return;
      }
      case 'error':
        this.options.logger.warn({ code: message.code }, `server: ${message.message}`);
        return;
    }
  }

  /**
   * Relays a call of a front door this agent serves (D80) to the server, which answers it for
   * this node. Rejects with UNAVAILABLE when the server cannot be asked now.
   */
  async call(door: string, method: string, body: Readonly<Record<string, unknown>>): Promise<{ status: number; body: unknown }> {
    const send = this.send;
    if (!send || !this.registered) throw new PollyError('UNAVAILABLE', `node ${this.options.nodeId} is not connected to the Polly server; retry`, {}, { retryable: true });
    const id = ++this.callSeq;
    const answer = await new Promise<CallAnswer>((resolve) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        resolve({ ok: false, code: 'UNAVAILABLE', message: `the server did not answer ${method} within ${CALL_TIMEOUT_MS / 1000} s` });
      }, CALL_TIMEOUT_MS);
      timer.unref();
      this.calls.set(id, { resolve, timer });
      send({ t: 'call', id, door, method, body });
    });
    if (!answer.ok) {
      const code: ErrorCode = (ErrorCodes as readonly string[]).includes(answer.code) ? (answer.code as ErrorCode) : 'UNAVAILABLE';
      throw new PollyError(code, answer.message);
    }
    return { status: answer.status, body: answer.body };
  }

  private beat(): void {
    const seq = ++this.seq;
    this.sentAt.set(seq, monotonicNow());
    this.send?.({ t: 'hb', seq });
  }

  /** When this node gives up its volumes unless a later heartbeat is acknowledged. */
  private selfFenceDeadline(): number {
    return this.lastAckAt + this.lease.leaseMs + this.lease.graceMs / 2;
  }

  private leaseMoved(): void {
    this.options.onLease?.(this.selfFenceDeadline());
  }

  private checkSelfFence(): void {
    if (this.fencing || this.drivers.size === 0) return;
    if (monotonicNow() < this.selfFenceDeadline()) return;
    this.fencing = (async () => {
      try {
        const released = await this.executor.releaseAll();
        if (released.length > 0) this.options.logger.warn({ released }, 'lease not renewed: released every volume of this node (self-fence)');
      } catch (err) {
        this.options.logger.error({ err }, 'self-fence: releasing volumes failed');
      } finally {
        this.fencing = undefined;
        this.lastAckAt = monotonicNow();
      }
    })();
  }

  private async buildDrivers(services: readonly ServiceSpec[]): Promise<void> {
    const key = JSON.stringify(services);
    if (key === this.specsKey) return;
    const next = new Map<string, StorageDriver>();
    for (const spec of services) {
      // The node's own pools join the service with the driver settings only the node knows.
      const own = this.options.pools.filter((p) => p.service === spec.name).map((p) => ({
        name: p.name, ...(p.capacityBytes === undefined ? {} : { capacityBytes: p.capacityBytes }), overcommit: 1,
        ...(p.zone === undefined ? {} : { zone: p.zone }), node: this.options.nodeId, types: p.types, labels: p.labels, maxIops: 0, params: p.params,
      }));
      const pools = [...spec.pools.filter((p) => !own.some((o) => o.name === p.name)), ...own];
      try {
        next.set(spec.name, this.options.makeDriver({ ...spec, pools }));
      } catch (err) {
        this.options.logger.error({ err, service: spec.name }, 'cannot build the driver of a service on this node');
      }
    }
    const old = this.drivers;
    this.drivers = next;
    this.specsKey = key;
    for (const d of old.values()) await d.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    for (const d of this.drivers.values()) await d.close().catch(() => undefined);
  }
}
