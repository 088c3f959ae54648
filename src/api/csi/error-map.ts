import { status } from '@grpc/grpc-js';
import { PollyError, type ErrorCode } from '../../core/errors.js';

/**
 * The one map from core errors to gRPC status codes of the CSI front door. The base table holds
 * for every RPC; `RPC_OVERRIDES` holds where the CSI spec names another code for a condition of
 * one RPC (e.g. an unknown service in CreateVolume parameters is INVALID_ARGUMENT, not NOT_FOUND;
 * a bad starting_token is ABORTED).
 */
const BASE: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  OUT_OF_RANGE: status.OUT_OF_RANGE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  FORBIDDEN: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  CONFLICT: status.FAILED_PRECONDITION,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  IN_PROGRESS: status.ABORTED,
  INSUFFICIENT_CAPACITY: status.RESOURCE_EXHAUSTED,
  QUOTA_EXCEEDED: status.RESOURCE_EXHAUSTED,
  UNSUPPORTED: status.INVALID_ARGUMENT,
  UNAVAILABLE: status.UNAVAILABLE,
  BACKEND_ERROR: status.INTERNAL,
  INTERNAL: status.INTERNAL,
};

type Override = (e: PollyError) => status | undefined;

const badToken: Override = (e) => (e.code === 'INVALID_ARGUMENT' && e.details['field'] === 'cursor' ? status.ABORTED : undefined);
const unknownService: Override = (e) => (e.code === 'NOT_FOUND' && e.details['kind'] === 'service' ? status.INVALID_ARGUMENT : undefined);

/** NodeStage/NodePublish: capabilities the volume does not have are FAILED_PRECONDITION ("Exceeds capabilities"). */
const exceedsCapabilities: Override = (e) => (e.code === 'UNSUPPORTED' ? status.FAILED_PRECONDITION : undefined);

const RPC_OVERRIDES: Readonly<Record<string, Override>> = {
  NodeStageVolume: exceedsCapabilities,
  NodePublishVolume: exceedsCapabilities,
  CreateVolume: unknownService,
  GetCapacity: unknownService,
  ListVolumes: badToken,
  ListSnapshots: badToken,
};

export interface GrpcError {
  readonly code: status;
  readonly details: string;
}

/** Maps anything thrown by an RPC handler to the status the CSI spec names for it. */
export function toGrpcError(rpc: string, e: unknown): GrpcError {
  if (e instanceof PollyError) {
    // A write that lost a race with another writer is retryable: ABORTED, as for an operation in flight.
    const code = RPC_OVERRIDES[rpc]?.(e) ?? (e.code === 'CONFLICT' && e.retryable ? status.ABORTED : BASE[e.code]);
    return { code, details: e.message };
  }
  return { code: status.INTERNAL, details: 'internal error; see the server log' };
}

/** True for errors whose detail is the server's business only (logged, not shown). */
export const isInternal = (e: unknown): boolean => !(e instanceof PollyError) || e.code === 'INTERNAL';
