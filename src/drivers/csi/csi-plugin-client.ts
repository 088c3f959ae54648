import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../api/csi/csi-proto.js';
import { PollyError, type ErrorCode } from '../../core/errors.js';

// Messages of csi.proto as plain objects (snake_case fields).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CsiMessage = Record<string, any>;

/** gRPC status → what Polly's core understands; anything else is the backend's failure. */
const CODES: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.NOT_FOUND]: 'NOT_FOUND',
  [grpc.status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [grpc.status.RESOURCE_EXHAUSTED]: 'INSUFFICIENT_CAPACITY',
  [grpc.status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [grpc.status.OUT_OF_RANGE]: 'OUT_OF_RANGE',
  [grpc.status.UNIMPLEMENTED]: 'UNSUPPORTED',
  [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'UNAVAILABLE',
  [grpc.status.ABORTED]: 'IN_PROGRESS',
};

/** Statuses after which the spec tells a CO to retry the same call (with backoff). */
const RETRY = new Set([grpc.status.ABORTED, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export interface PluginClientOptions {
  /** `unix:///path.sock`, `tcp://host:port` or `host:port`. */
  readonly endpoint: string;
  /** Per-call deadline. */
  readonly timeoutMs: number;
  /** How long to keep retrying ABORTED/UNAVAILABLE answers. */
  readonly retryForMs: number;
}

/**
 * A client of an external CSI plugin's Identity and Controller services. Each call has a deadline;
 * ABORTED (an operation in flight on the same volume) and UNAVAILABLE are retried with backoff as
 * the spec asks of a CO; every other failure becomes a PollyError naming the plugin and the RPC.
 */
export class CsiPluginClient {
  private readonly identity: grpc.Client;
  private readonly controller: grpc.Client;

  constructor(private readonly options: PluginClientOptions) {
    const csi = loadCsi();
    const target = options.endpoint.startsWith('tcp://') ? options.endpoint.slice('tcp://'.length) : options.endpoint;
    const creds = grpc.credentials.createInsecure();
    this.identity = new csi.Identity(target, creds);
    this.controller = new csi.Controller(target, creds, { channelOverride: this.identity.getChannel() });
  }

  identityCall(rpc: string, request: CsiMessage = {}, signal?: AbortSignal): Promise<CsiMessage> {
    return this.call(this.identity, rpc, request, signal);
  }

  controllerCall(rpc: string, request: CsiMessage = {}, signal?: AbortSignal): Promise<CsiMessage> {
    return this.call(this.controller, rpc, request, signal);
  }

  close(): void {
    this.identity.close();
  }

  private async call(client: grpc.Client, rpc: string, request: CsiMessage, signal?: AbortSignal): Promise<CsiMessage> {
    const until = Date.now() + this.options.retryForMs;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await this.once(client, rpc, request, signal);
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        const wait = Math.min(1000, 20 * 2 ** attempt);
        if (!RETRY.has(code) || Date.now() + wait > until) throw this.toPollyError(rpc, e);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private once(client: grpc.Client, rpc: string, request: CsiMessage, signal?: AbortSignal): Promise<CsiMessage> {
    const fn = (client as unknown as Record<string, (r: CsiMessage, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: CsiMessage) => void) => grpc.ClientUnaryCall>)[rpc];
    if (typeof fn !== 'function') return Promise.reject(new PollyError('INTERNAL', `CSI has no RPC ${rpc}`));
    return new Promise((resolve, reject) => {
      const call = fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + this.options.timeoutMs }, (e, res) => {
        signal?.removeEventListener('abort', cancel);
        if (e) reject(e);
        else resolve(res);
      });
      const cancel = () => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  private toPollyError(rpc: string, e: unknown): PollyError {
    if (e instanceof PollyError) return e;
    const se = e as grpc.ServiceError;
    const code = (typeof se.code === 'number' ? CODES[se.code as grpc.status] : undefined) ?? 'BACKEND_ERROR';
    const message = `CSI plugin ${this.options.endpoint} ${rpc}: ${se.details || se.message || String(e)}`;
    return new PollyError(code, message, { rpc, grpcCode: se.code }, { cause: e, retryable: RETRY.has(se.code as grpc.status) });
  }
}
