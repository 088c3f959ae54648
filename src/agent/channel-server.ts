import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { asPollyError, PollyError } from '../core/errors.js';
import type { ServiceSpec } from '../core/model.js';
import type { NodeService } from '../core/nodes.js';
import type { Logger } from '../core/ports/logger.js';
import type { NodeChannel, NodeOperation, NodeOperationResult } from '../core/ports/node-channel.js';
import {
  CALL_TIMEOUT_MS, CHANNEL_PATH, CLOSE_FENCED, CLOSE_REFUSED, CLOSE_REPLACED, MAX_MESSAGE_BYTES, parseAgentMessage,
  type AgentMessage, type CallAnswer, type ServerMessage,
} from './protocol.js';

/** Answers a front-door call relayed by the agent of `nodeId` (the node its connection registered). */
export type CallHandler = (nodeId: string, method: string, body: Readonly<Record<string, unknown>>) => Promise<{ status: number; body: unknown }>;
/**
 * Undoes a call whose answer no longer reaches the node: its connection went away, or the agent
 * stopped waiting (CALL_TIMEOUT_MS) — e.g. a Mount whose mount nobody will ever unmount.
 */
export type AbandonedCallHandler = (nodeId: string, method: string, body: Readonly<Record<string, unknown>>, answer: { status: number; body: unknown }) => Promise<void>;

export interface ChannelServerOptions {
  /**
   * Node tokens; with none, only agents connecting from loopback are accepted (and only when
   * `openLoopback`). A token with `nodes` may register only those node ids (D81).
   */
  readonly tokens: readonly { readonly token: string; readonly nodes?: readonly string[] }[];
  readonly openLoopback: boolean;
  readonly services: () => readonly ServiceSpec[];
  readonly logger: Logger;
}

interface Pending {
  readonly op: NodeOperation;
  readonly resolve: (r: NodeOperationResult) => void;
  readonly timer: NodeJS.Timeout;
}

/** One agent connection, whatever carries it (WebSocket or the in-process link). */
export interface Session {
  readonly remote: string;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
  nodeId?: string;
  ready: boolean;
  /** The node ids its token may register as (undefined: any). */
  mayBe?: readonly string[];
}

/**
 * The server side of the node channel: agents dial in (WebSocket on the admin listener, bearer
 * node token) or link in-process. Implements the NodeChannel port: an operation goes to the
 * node's current session and waits for its result; when the connection drops, the operation
 * stays pending and is sent again when the agent is back (the agent answers a replayed op id
 * from its cache), until its time limit.
 */
export class ChannelServer implements NodeChannel {
  private nodes: NodeService | undefined;
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new Map<string, Pending>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly tokens: { readonly secret: Buffer; readonly nodes?: readonly string[] }[];
  private readonly doors = new Map<string, { answer: CallHandler; abandoned?: AbandonedCallHandler }>();

  constructor(private readonly options: ChannelServerOptions) {
    this.tokens = options.tokens.map((t) => ({ secret: Buffer.from(t.token), ...(t.nodes === undefined ? {} : { nodes: t.nodes }) }));
  }

  /** Late binding: core's node service is built with this channel. */
  bind(nodes: NodeService): void {
    this.nodes = nodes;
  }

  /** Serves the calls agents relay for a front door (e.g. `docker`, D80). */
  serveCalls(door: string, answer: CallHandler, abandoned?: AbandonedCallHandler): void {
    this.doors.set(door, { answer, ...(abandoned ? { abandoned } : {}) });
  }

  connectedNodes(): readonly string[] {
    return [...this.sessions.entries()].filter(([, s]) => s.ready).map(([id]) => id);
  }

  dispatch(op: NodeOperation, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<NodeOperationResult> {
    const session = this.sessions.get(op.nodeId);
    if (!session) {
      return Promise.resolve({ opId: op.opId, ok: false, error: { code: 'UNAVAILABLE', message: `the agent of node ${op.nodeId} is not connected` } });
    }
    return new Promise((resolve) => {
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        this.pending.delete(op.opId);
        resolve({ opId: op.opId, ok: false, error: { code: 'UNAVAILABLE', message: `node ${op.nodeId} did not answer ${op.kind} of ${op.volumeId || 'its pool'} within ${timeoutMs} ms` } });
      }, timeoutMs);
      timer.unref();
      this.pending.set(op.opId, { op, resolve, timer });
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        this.pending.delete(op.opId);
        resolve({ opId: op.opId, ok: false, error: { code: 'UNAVAILABLE', message: 'aborted' } });
      }, { once: true });
      this.sessions.get(op.nodeId)?.send({ t: 'op', op });
    });
  }

  /** Serves `GET /v1/nodes/channel` upgrades on the admin listener. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== CHANNEL_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const auth = this.authenticate(req);
      if (typeof auth === 'string') {
        this.options.logger.warn({ remote: req.socket.remoteAddress }, `node channel refused: ${auth}`);
        socket.end(`HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(auth)}\r\n\r\n${auth}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.serveSocket(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`, auth.nodes));
    });
  }

  /** The refusal, or the node ids the caller's token may register as. */
  private authenticate(req: IncomingMessage): string | { nodes?: readonly string[] } {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (this.tokens.length === 0) {
      const addr = req.socket.remoteAddress ?? '';
      const loopback = addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
      return this.options.openLoopback && loopback ? {} : 'no node tokens are configured (nodes.tokens); only loopback agents of an open server may connect';
    }
    if (!m) return 'send "Authorization: Bearer <node token>"';
    const given = Buffer.from(m[1]!);
    const found = this.tokens.find((t) => t.secret.length === given.length && timingSafeEqual(t.secret, given));
    if (!found) return 'the node token is not valid';
    return found.nodes === undefined ? {} : { nodes: found.nodes };
  }

  private serveSocket(ws: WebSocket, remote: string, mayBe: readonly string[] | undefined): void {
    const session: Session = {
      remote,
      ready: false,
      ...(mayBe === undefined ? {} : { mayBe }),
      send: (m) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
      },
      close: (code, reason) => ws.close(code, reason.slice(0, 120)),
    };
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? undefined : parseAgentMessage(data.toString());
      if (!msg) {
        session.send({ t: 'error', code: 'INVALID_ARGUMENT', message: 'not a node channel message' });
        return;
      }
      void this.receive(session, msg);
    });
    ws.on('close', () => void this.closed(session, 'connection closed'));
    ws.on('error', (err) => this.options.logger.warn({ err, remote }, 'node channel error'));
  }

  /**
   * An in-process agent's link: returns the function that delivers its messages. Tests link
   * agents that stand for other nodes with `inProcess: false`.
   */
  link(toAgent: (m: ServerMessage) => void, options: { inProcess?: boolean } = {}): { receive(m: AgentMessage): void; close(): void } {
    const session: Session = { remote: options.inProcess === false ? 'in-memory' : 'in-process', ready: false, send: (m) => setImmediate(() => toAgent(structuredClone(m))), close: () => undefined };
    return {
      receive: (m) => setImmediate(() => void this.receive(session, structuredClone(m))),
      close: () => void this.closed(session, 'server stopping'),
    };
  }

  private async receive(session: Session, msg: AgentMessage): Promise<void> {
    const nodes = this.nodes;
    if (!nodes) return;
    try {
      switch (msg.t) {
        case 'hello': {
          if (session.nodeId !== undefined) throw new PollyError('FAILED_PRECONDITION', 'hello was already sent on this connection');
          const inProcess = session.remote === 'in-process';
          if (session.mayBe !== undefined && !session.mayBe.includes(String(msg.hello.nodeId))) {
            throw new PollyError('FORBIDDEN', `this node token may register only as ${session.mayBe.join(', ')}, not as node ${String(msg.hello.nodeId).slice(0, 128)}`);
          }
          const taken = this.sessions.get(String(msg.hello.nodeId));
          if (taken?.remote === 'in-process' && !inProcess) {
            throw new PollyError('ALREADY_EXISTS', `node id ${String(msg.hello.nodeId)} is the server's own node (server.nodeId); give this agent another --node-id`);
          }
          const node = await nodes.register({ ...msg.hello, inProcess });
          session.nodeId = node.id;
          const old = this.sessions.get(node.id);
          this.sessions.set(node.id, session);
          if (old && old !== session) old.close(CLOSE_REPLACED, 'replaced by a new connection of the same node');
          const o = nodes.options;
          session.send({ t: 'welcome', services: this.options.services(), leaseMs: o.leaseMs, graceMs: o.graceMs, heartbeatMs: Math.max(100, Math.floor(o.leaseMs / 4)) });
          return;
        }
        case 'report': {
          const nodeId = this.registered(session);
          session.ready = true; // operations may flow now (the release of stale volumes needs them)
          for (const p of this.pending.values()) if (p.op.nodeId === nodeId) session.send({ t: 'op', op: p.op });
          await this.settle(session, nodeId, msg);
          return;
        }
        case 'hb': {
          const nodeId = this.registered(session);
          const state = await nodes.heartbeat(nodeId);
          if (state === 'fenced' || state === undefined) {
            session.send({ t: 'error', code: 'FAILED_PRECONDITION', message: `node ${nodeId} was fenced; reconnect to release what it lost` });
            session.close(CLOSE_FENCED, 'fenced');
            return;
          }
          session.send({ t: 'hbAck', seq: msg.seq, state });
          return;
        }
        case 'ack':
          return;
        case 'call': {
          if (session.nodeId === undefined || this.sessions.get(session.nodeId) !== session) {
            session.send({ t: 'answer', id: msg.id, answer: { ok: false, code: 'UNAVAILABLE', message: 'the node is not registered on this connection (yet); retry' } });
            return;
          }
          void this.answerCall(session, session.nodeId, msg);
          return;
        }
        case 'result': {
          const p = this.pending.get(msg.result.opId);
          if (!p || p.op.nodeId !== session.nodeId) return;
          clearTimeout(p.timer);
          this.pending.delete(msg.result.opId);
          p.resolve(msg.result);
          return;
        }
      }
    } catch (e) {
      const err = asPollyError(e);
      this.options.logger.warn({ remote: session.remote, node: session.nodeId, err: err.message }, 'node channel message refused');
      session.send({ t: 'error', code: err.code, message: err.message });
      if (msg.t === 'hello') session.close(CLOSE_REFUSED, err.message);
    }
  }

  /**
   * A relayed front-door call, answered for the node this connection registered as: the node id
   * comes from the channel, never from the call, so one node's agent cannot act for another.
   */
  private async answerCall(session: Session, nodeId: string, msg: Extract<AgentMessage, { t: 'call' }>): Promise<void> {
    const door = this.doors.get(msg.door);
    const started = Date.now();
    let answer: CallAnswer;
    if (!door) {
      answer = { ok: false, code: 'UNSUPPORTED', message: `this server does not serve ${msg.door} calls for its nodes` };
    } else {
      try {
        answer = { ok: true, ...(await door.answer(nodeId, msg.method, msg.body)) };
      } catch (e) {
        const err = asPollyError(e);
        answer = { ok: false, code: err.code, message: err.message };
      }
    }
    // The agent waits CALL_TIMEOUT_MS from before this arrived: past that, nobody reads the answer.
    const heard = this.sessions.get(nodeId) === session && Date.now() - started < CALL_TIMEOUT_MS;
    if (heard) {
      session.send({ t: 'answer', id: msg.id, answer });
      return;
    }
    if (answer.ok && door?.abandoned) {
      this.options.logger.warn({ node: nodeId, door: msg.door, method: msg.method }, 'the answer of a relayed call reaches nobody; undoing it');
      await door.abandoned(nodeId, msg.method, msg.body, answer).catch((e: unknown) =>
        this.options.logger.error({ err: e, node: nodeId, method: msg.method }, 'undoing an abandoned call failed'));
    }
  }

  /** Start-up reconciliation of an agent, retried while the connection lasts. */
  private async settle(session: Session, nodeId: string, report: Extract<AgentMessage, { t: 'report' }>): Promise<void> {
    for (let attempt = 1; this.sessions.get(nodeId) === session; attempt++) {
      try {
        const { released, repaired } = await this.nodes!.reconcileAgent(nodeId, report.attached);
        session.send({ t: 'state', state: 'ready', message: `node ${nodeId} is ready (released ${released.length}, mounted again ${repaired.length})` });
        return;
      } catch (e) {
        const err = asPollyError(e);
        session.send({ t: 'state', state: 'recovering', message: err.message });
        await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * attempt)).unref());
      }
    }
  }

  private registered(session: Session): string {
    if (session.nodeId === undefined || this.sessions.get(session.nodeId) !== session) {
      throw new PollyError('FAILED_PRECONDITION', 'send hello first (or this connection was replaced)');
    }
    return session.nodeId;
  }

  private async closed(session: Session, reason: string): Promise<void> {
    const nodeId = session.nodeId;
    session.ready = false;
    if (nodeId === undefined || this.sessions.get(nodeId) !== session) return;
    this.sessions.delete(nodeId);
    // Operations in flight wait for the agent to come back (and are replayed then), but only for
    // a lease: a node that does not return by then answers UNAVAILABLE.
    const windowMs = this.nodes?.options.leaseMs ?? 10_000;
    const waiting = [...this.pending.values()].filter((p) => p.op.nodeId === nodeId);
    if (waiting.length > 0) {
      setTimeout(() => {
        if (this.sessions.has(nodeId)) return;
        for (const p of waiting) {
          if (this.pending.get(p.op.opId) !== p) continue;
          clearTimeout(p.timer);
          this.pending.delete(p.op.opId);
          p.resolve({ opId: p.op.opId, ok: false, error: { code: 'UNAVAILABLE', message: `the agent of node ${nodeId} disconnected (${reason}) and did not return within its lease` } });
        }
      }, windowMs).unref();
    }
    await this.nodes?.disconnected(nodeId, reason).catch(() => undefined);
  }

  /** Stops accepting agents and closes every connection (pending operations run out on their timers). */
  close(): void {
    for (const s of this.sessions.values()) s.close(1001, 'server stopping');
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
