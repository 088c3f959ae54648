import { after, before, beforeEach } from 'node:test';
import { startFakeServer, type FakeServer, type RecordedRequest } from '../../client/testing/fake-server.js';
import { run, type RunOptions } from './capture.js';
import { standardRoutes } from './routes.js';

export interface FakePolly {
  readonly fake: FakeServer;
  /** Runs `polly --host <fake> …args`. */
  polly(args: string[], opts?: RunOptions): ReturnType<typeof run>;
  /** The requests the current test sent. */
  sent(): RecordedRequest[];
}

/**
 * For one `describe`: a fake Polly server with the standard routes, started before its tests and
 * closed after them, and the requests each test sent.
 */
export function useFakePolly(): FakePolly {
  let fake: FakeServer | undefined;
  let mark = 0;
  before(async () => {
    fake = await startFakeServer(standardRoutes());
  });
  after(() => fake?.close());
  beforeEach(() => {
    mark = fake!.requests.length;
  });
  return {
    get fake() {
      return fake!;
    },
    polly: (args, opts = {}) => run(['--host', fake!.url, ...args], opts),
    sent: () => fake!.requests.slice(mark),
  };
}
