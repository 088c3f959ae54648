import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * The CSI protocol definition (proto/csi.proto, spec v1.12, shipped unchanged) loaded at run time
 * with @grpc/proto-loader: no generated code. Field names keep the proto's snake_case, 64-bit
 * integers arrive as JS numbers (sizes beyond 2^53 are refused by validation), enums as their names.
 */
const CANDIDATES = [
  // beside this module (a build that copies the proto next to the compiled code) …
  new URL('./proto/csi.proto', import.meta.url),
  // … or in the package's source tree, from dist/src/api/csi/
  new URL('../../../../src/api/csi/proto/csi.proto', import.meta.url),
];

export function csiProtoPath(): string {
  for (const u of CANDIDATES) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`the CSI protocol definition csi.proto was not found (looked at ${CANDIDATES.map((u) => fileURLToPath(u)).join(', ')})`);
}

export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

export interface CsiPackage {
  readonly Identity: grpc.ServiceClientConstructor;
  readonly Controller: grpc.ServiceClientConstructor;
  readonly Node: grpc.ServiceClientConstructor;
}

let loaded: CsiPackage | undefined;

/** The csi.v1 package (services with their definitions and client constructors), loaded once. */
export function loadCsi(): CsiPackage {
  if (!loaded) {
    const def = protoLoader.loadSync(csiProtoPath(), PROTO_OPTIONS);
    const root = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiPackage } };
    loaded = root.csi.v1;
  }
  return loaded;
}
