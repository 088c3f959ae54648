import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/ports/logger.js';
import { isInternal, toGrpcError } from './error-map.js';

// Requests arrive as plain objects shaped by csi.proto (snake_case fields).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = Record<string, any>;

export type Handler = (request: Message) => Promise<Message>;

/** Wraps a handler as a gRPC unary call: errors become the status error-map.ts names for `rpc`. */
export function unary(rpc: string, logger: Logger, handler: Handler): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    handler(call.request).then(
      (res) => callback(null, res),
      (e: unknown) => {
        const err = toGrpcError(rpc, e);
        if (isInternal(e)) logger.error({ err: e, rpc }, 'CSI call failed');
        else logger.debug({ rpc, code: err.code, message: err.details }, 'CSI call refused');
        callback({ code: err.code, details: err.details } as grpc.ServiceError);
      },
    );
  };
}

/** A service implementation from a map of RPC name → handler. */
export function implementation(logger: Logger, handlers: Readonly<Record<string, Handler>>): grpc.UntypedServiceImplementation {
  return Object.fromEntries(Object.entries(handlers).map(([rpc, h]) => [rpc, unary(rpc, logger, h)]));
}

/** protobuf Timestamp of a millisecond time. */
export const timestamp = (ms: number): Message => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });
