import http2 from 'node:http2';
import { connect } from 'node:net';
import * as protoLoader from '@grpc/proto-loader';
import { csiProtoPath, PROTO_OPTIONS } from '../src/api/csi/csi-proto.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

/**
 * A lean unary gRPC client for the CSI benchmark: one HTTP/2 connection (node:http2) over a unix
 * socket, messages framed as the gRPC-over-HTTP/2 protocol says (a 5-byte prefix: compressed
 * flag, length) and (de)serialized by the same proto-loader functions grpc-js uses. No channel,
 * resolver, interceptors, deadlines or retries: the load generator shares the machine's cores with
 * the server it measures, and grpc-js's client spends about twice the server's own gRPC time per
 * call. The suites keep using grpc-js; the benchmark reports both clients.
 */
export class GrpcWireClient {
  private readonly session: http2.ClientHttp2Session;
  private readonly methods: protoLoader.PackageDefinition;

  constructor(socketPath: string) {
    this.methods = protoLoader.loadSync(csiProtoPath(), PROTO_OPTIONS);
    this.session = http2.connect('http://localhost', { createConnection: () => connect(socketPath) });
    this.session.on('error', () => undefined); // each call reports its own failure
  }

  /** Calls `service`.`method` (e.g. 'csi.v1.Controller', 'CreateVolume'); rejects with the gRPC status. */
  call(service: string, method: string, request: Msg): Promise<Msg> {
    const def = (this.methods[service] as protoLoader.ServiceDefinition | undefined)?.[method];
    if (!def) return Promise.reject(new Error(`no RPC ${service}/${method}`));
    const body = def.requestSerialize(request);
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    return new Promise((resolve, reject) => {
      const stream = this.session.request({ ':method': 'POST', ':path': `/${service}/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const take = (headers: http2.IncomingHttpHeaders) => {
        if (headers['grpc-status'] !== undefined) {
          status = String(headers['grpc-status']);
          message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      };
      stream.on('response', take); // a trailers-only answer carries the status here
      stream.on('trailers', take);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== '0') return reject(new Error(`gRPC status ${status ?? 'missing'}: ${message}`));
        const reply = Buffer.concat(chunks);
        if (reply.length < 5 || reply[0] !== 0 || reply.readUInt32BE(1) !== reply.length - 5) return reject(new Error('malformed gRPC reply'));
        resolve(def.responseDeserialize(reply.subarray(5)) as Msg);
      });
      stream.end(framed);
    });
  }

  close(): void {
    this.session.close();
  }
}
