/** A CSI client for the end-to-end suites and benchmarks: the three services over one endpoint, promisified. */
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/api/csi/csi-proto.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

export type Call = (request?: Msg) => Promise<Msg>;

export interface CsiClient {
  readonly identity: Record<string, Call>;
  readonly controller: Record<string, Call>;
  readonly node: Record<string, Call>;
  close(): void;
}

const promisify = (client: grpc.Client): Record<string, Call> =>
  new Proxy({}, {
    get: (_t, rpc: string) => (request: Msg = {}) =>
      new Promise<Msg>((resolve, reject) => {
        const fn = (client as unknown as Record<string, (r: Msg, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: Msg) => void) => void>)[rpc];
        if (typeof fn !== 'function') return reject(new Error(`no RPC ${rpc}`));
        fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (e, res) => (e ? reject(e) : resolve(res)));
      }),
  });

/** Dials `endpoint` (`unix:///path.sock` or `host:port`). */
export function csiClient(endpoint: string): CsiClient {
  const csi = loadCsi();
  const creds = grpc.credentials.createInsecure();
  const target = endpoint.startsWith('tcp://') ? endpoint.slice('tcp://'.length) : endpoint;
  const identity = new csi.Identity(target, creds);
  const channel = identity.getChannel();
  const opts = { channelOverride: channel };
  const controller = new csi.Controller(target, creds, opts);
  const node = new csi.Node(target, creds, opts);
  return {
    identity: promisify(identity), controller: promisify(controller), node: promisify(node),
    close: () => identity.close(),
  };
}

/** The gRPC status code of a failed call (throws when the call did not fail). */
export async function codeOf(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
  } catch (e) {
    const code = (e as grpc.ServiceError).code;
    if (typeof code === 'number') return code;
    throw e;
  }
  throw new Error('the call succeeded; an error was expected');
}

export { grpc };
