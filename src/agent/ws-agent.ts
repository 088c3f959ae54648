import WebSocket from 'ws';
import type { Logger } from '../core/ports/logger.js';
import type { AgentRuntime } from './agent-runtime.js';
import { CHANNEL_PATH, CLOSE_REFUSED, MAX_MESSAGE_BYTES, parseServerMessage } from './protocol.js';

const REFUSED_RETRY_MS = 5_000;

export interface WsAgentOptions {
  /** Base URL of the server's admin listener (http:// or https://). */
  readonly server: string;
  readonly token?: string;
  readonly logger: Logger;
}

/** The channel URL (ws/wss) of a server base URL. */
export function channelUrl(server: string): string {
  const u = new URL(server);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--server ${server}: use http://host:port or https://host:port`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = CHANNEL_PATH;
  return u.toString();
}

/**
 * Keeps an agent connected: dials the server, hands messages to the runtime, and redials with
 * a capped backoff whenever the connection is lost (server restart, network), forever.
 */
export class WsAgent {
  private ws: WebSocket | undefined;
  private stopped = false;
  private backoffMs = 100;
  private retry: NodeJS.Timeout | undefined;
  private refused = false;

  constructor(private readonly runtime: AgentRuntime, private readonly options: WsAgentOptions) {}

  start(): void {
    this.dial();
  }

  private dial(): void {
    if (this.stopped) return;
    const ws = new WebSocket(channelUrl(this.options.server), {
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: 5_000,
      ...(this.options.token ? { headers: { authorization: `Bearer ${this.options.token}` } } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.backoffMs = 100;
      this.options.logger.info({ server: this.options.server }, 'connected to the server');
      this.runtime.connected((m) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
      });
    });
    ws.on('message', (data) => {
      const msg = parseServerMessage(data.toString());
      if (msg) void this.runtime.handle(msg).catch((err: unknown) => this.options.logger.error({ err }, 'handling a server message failed'));
    });
    ws.on('unexpected-response', (_req, res) => {
      this.refused = true;
      let body = '';
      res.on('data', (c: Buffer) => void (body += c.toString()));
      res.on('end', () => this.options.logger.error({ status: res.statusCode }, `server refused the agent: ${body || res.statusMessage}`));
    });
    ws.on('close', (code, reason) => {
      if (this.ws === ws) this.ws = undefined;
      this.runtime.disconnected();
      if (code === CLOSE_REFUSED) {
        this.refused = true;
        this.options.logger.error({ code }, `server refused the agent: ${reason.toString()}`);
      }
      this.schedule();
    });
    ws.on('error', (err) => this.options.logger.debug({ err: err.message }, 'channel error'));
  }

  private schedule(): void {
    if (this.stopped || this.retry) return;
    // A refusal (bad token, bad registration) is not cured by hammering: try again slowly.
    const delay = this.refused ? REFUSED_RETRY_MS : this.backoffMs;
    this.refused = false;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.dial();
    }, delay);
    this.backoffMs = Math.min(1_000, this.backoffMs * 2);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.ws?.close(1000, 'agent stopping');
    await this.runtime.close();
  }
}
