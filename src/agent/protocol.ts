/**
 * Messages of the node channel (JSON over a WebSocket the agent opens to the server, or an
 * in-memory link for the server's in-process agent). Operations are keyed by op id; the agent
 * acknowledges receipt (`ack`) and answers once (`result`); a replayed op id gets the same answer.
 */
import type { NodeState, ServiceSpec } from '../core/model.js';
import type { AgentHello, AgentVolume } from '../core/nodes.js';
import type { NodeOperation, NodeOperationResult } from '../core/ports/node-channel.js';

export const CHANNEL_PATH = '/v1/nodes/channel';
/** Close codes of the channel. */
export const CLOSE_REFUSED = 4000;
export const CLOSE_FENCED = 4001;
export const CLOSE_REPLACED = 4002;
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** How long an agent waits for the answer to a relayed front-door call (a Mount includes the node's attach). */
export const CALL_TIMEOUT_MS = 180_000;

export type AgentMessage =
  | { readonly t: 'hello'; readonly hello: AgentHello }
  | { readonly t: 'report'; readonly attached: readonly AgentVolume[] }
  | { readonly t: 'hb'; readonly seq: number }
  | { readonly t: 'ack'; readonly opId: string }
  | { readonly t: 'result'; readonly result: NodeOperationResult }
  /** A call of a front door the agent serves on its node (D80), answered by the server for this node. */
  | { readonly t: 'call'; readonly id: number; readonly door: string; readonly method: string; readonly body: Readonly<Record<string, unknown>> };

export type ServerMessage =
  | { readonly t: 'welcome'; readonly services: readonly ServiceSpec[]; readonly leaseMs: number; readonly graceMs: number; readonly heartbeatMs: number }
  | { readonly t: 'state'; readonly state: NodeState; readonly message: string }
  | { readonly t: 'hbAck'; readonly seq: number; readonly state: NodeState }
  | { readonly t: 'op'; readonly op: NodeOperation }
  | { readonly t: 'error'; readonly code: string; readonly message: string }
  | { readonly t: 'answer'; readonly id: number; readonly answer: CallAnswer };

/** The server's answer to a relayed call: the front door's status and body, or why it could not answer. */
export type CallAnswer =
  | { readonly ok: true; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Front-door calls an agent may relay, by door; the method names are the door's to check. */
const CALL_DOOR = /^[a-z][a-z0-9-]{0,31}$/;
const CALL_METHOD = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

const OP_ID = /^op-[0-9a-z]{26}$/;

/** Parses and shape-checks a message from an agent; undefined when it is not one. */
export function parseAgentMessage(raw: string): AgentMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  switch (o['t']) {
    case 'hello':
      return typeof o['hello'] === 'object' && o['hello'] !== null ? (o as AgentMessage) : undefined;
    case 'report':
      return Array.isArray(o['attached']) ? (o as AgentMessage) : undefined;
    case 'hb':
      return Number.isSafeInteger(o['seq']) ? (o as AgentMessage) : undefined;
    case 'ack':
      return typeof o['opId'] === 'string' && OP_ID.test(o['opId']) ? (o as AgentMessage) : undefined;
    case 'call': {
      const b = o['body'];
      const ok = Number.isSafeInteger(o['id']) && typeof o['door'] === 'string' && CALL_DOOR.test(o['door'])
        && typeof o['method'] === 'string' && CALL_METHOD.test(o['method']) && typeof b === 'object' && b !== null && !Array.isArray(b);
      return ok ? (o as AgentMessage) : undefined;
    }
    case 'result': {
      const r = o['result'] as Record<string, unknown> | undefined;
      return r && typeof r['opId'] === 'string' && typeof r['ok'] === 'boolean' ? (o as AgentMessage) : undefined;
    }
    default:
      return undefined;
  }
}

export function parseServerMessage(raw: string): ServerMessage | undefined {
  try {
    const m = JSON.parse(raw) as ServerMessage;
    return typeof m === 'object' && m !== null && typeof m.t === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}
