/**
 * Crash safety end to end (DESIGN.md §5, issue 2 items 6 and 10): SIGKILL the real server while
 * 200 creates are in flight, restart it on the same data dir, and check that the start-up
 * reconcile left catalog, capacity bookkeeping and disk exactly in line:
 *   - every acknowledged (2xx) create exists and is available;
 *   - no volume is left `creating`; nothing is reserved; provisioned == sum of sizes;
 *   - the pool's volumes/ holds exactly the catalog's volumes; .staging is empty.
 * The kill lands at three different moments, on the same data dir, so later rounds also crash
 * on top of earlier recoveries.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MiB, listAll, listDir, poolDir, volumeDirs } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, tempDir, type ApiResponse, type RunningServer } from './support/server-process.js';

const SERVICE = 'default';
const POOL = 'local';
const CREATES = 200;

after(cleanup);

interface Outcome {
  readonly name: string;
  readonly size: number;
  /** The answer, when one arrived before the kill. */
  readonly response?: ApiResponse;
  readonly error?: unknown;
}

/** When to pull the plug: after the n-th answer reached the client, or once n volume dirs exist on disk. */
type Moment = { readonly answers: number } | { readonly dirsOnDisk: number };

const describeMoment = (m: Moment): string => ('answers' in m ? `after ${m.answers} answer(s)` : `once ${m.dirsOnDisk} volume dirs are on disk`);

/** Fires CREATES creates at once and SIGKILLs the server at `moment`. */
async function createsThenKill(server: RunningServer, round: number, moment: Moment): Promise<Outcome[]> {
  let answered = 0;
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    void server.stop('SIGKILL');
  };
  let watcher: NodeJS.Timeout | undefined;
  if ('dirsOnDisk' in moment) {
    // Server-side progress: answers arrive in bursts (group commit), the disk shows work sooner.
    const before = volumeDirs(server, SERVICE, POOL).length;
    watcher = setInterval(() => {
      if (volumeDirs(server, SERVICE, POOL).length - before >= moment.dirsOnDisk) kill();
    }, 1);
  }
  const outcomes = await Promise.all(
    Array.from({ length: CREATES }, async (_, i): Promise<Outcome> => {
      const name = `r${round}-v${i}`;
      const size = ((i % 7) + 1) * MiB;
      // Fired in waves of 25, 5 ms apart, so that all 200 overlap but their answers trickle in
      // instead of arriving in one group commit.
      await new Promise((r) => setTimeout(r, Math.floor(i / 25) * 5));
      try {
        const response = await api(server, 'POST', '/v1/volumes', { service: SERVICE, name, size }, {}, 30_000);
        if ('answers' in moment && ++answered >= moment.answers) kill();
        return { name, size, response };
      } catch (error) {
        return { name, size, error };
      }
    }),
  );
  clearInterval(watcher);
  kill(); // in case the moment never came
  await server.exited;
  return outcomes;
}

describe('SIGKILL during 200 concurrent creates, then restart', { timeout: 300_000 }, () => {
  const dataDir = tempDir('crash');
  const acknowledged = new Map<string, { id: string; size: number }>(); // name → volume
  const repairs: number[] = [];

  // The moments: right after the first answer, once ~60 and ~150 new volumes are on disk
  // (answers come in bursts, as commits are grouped, so later moments are read from the disk).
  const moments: Moment[] = [{ answers: 1 }, { dirsOnDisk: 60 }, { dirsOnDisk: 150 }];
  for (const [round, moment] of moments.entries()) {
    it(`round ${round + 1}: kill ${describeMoment(moment)}, restart, everything is consistent`, { timeout: 120_000 }, async (t) => {
      const server = await startPollyServer({ dataDir });
      const outcomes = await createsThenKill(server, round, moment);

      for (const o of outcomes) {
        const r = o.response;
        if (r === undefined) continue;
        // Before the kill the only answers are successes (the pool is large, the names distinct).
        assert.ok(r.status === 201 || r.status === 200, `create ${o.name} answered ${r.status}: ${r.text}`);
        assert.equal(r.body.status, 'available', `an acknowledged create is available: ${r.text}`);
        acknowledged.set(o.name, { id: r.body.id, size: o.size });
      }
      const answered = outcomes.filter((o) => o.response !== undefined).length;
      t.diagnostic(`round ${round + 1}: ${answered} answered before the kill, ${CREATES - answered} cut off`);
      assert.ok(answered < CREATES, 'the kill landed while creates were still in flight');

      const restartedAt = Date.now();
      const restarted = await startPollyServer({ dataDir });
      try {
        await checkConsistent(t, restarted, restartedAt, outcomes, acknowledged, repairs);
      } finally {
        await restarted.stop();
      }
      const exit = await restarted.exited;
      assert.equal(exit.code, 0, `graceful stop after the check: ${restarted.stderr()}`);
    });
  }

  it('the kills hit creates mid-flight at least once (the reconcile had something to repair)', () => {
    assert.equal(repairs.length, moments.length, 'every round ran');
    assert.ok(repairs.some((n) => n > 0), `reconcile repairs per round: ${repairs.join(', ')}`);
  });
});

async function checkConsistent(
  t: { diagnostic(msg: string): void },
  server: RunningServer,
  restartedAt: number,
  outcomes: readonly Outcome[],
  acknowledged: Map<string, { id: string; size: number }>,
  repairs: number[],
): Promise<void> {
  const volumes = await listAll(server, `/v1/volumes?service=${SERVICE}&limit=1000`);
  const byName = new Map(volumes.map((v) => [v.name as string, v]));

  // 1. every acknowledged create exists, is available, same id and size
  for (const [name, ack] of acknowledged) {
    const v = byName.get(name);
    assert.ok(v, `acknowledged volume ${name} (${ack.id}) exists after the restart`);
    assert.equal(v.id, ack.id);
    assert.equal(v.size, ack.size);
    assert.equal(v.status, 'available', `acknowledged volume ${name} is available`);
  }

  // 2. nothing is left half-made
  for (const v of volumes) assert.ok(v.status === 'available', `volume ${v.name} (${v.id}) is ${v.status}${v.reason ? `: ${v.reason}` : ''}`);
  const creating = await api(server, 'GET', `/v1/volumes?status=creating`);
  assert.equal(creating.status, 200);
  assert.deepEqual(creating.body.items, [], 'no volume is left creating');

  // 3. capacity bookkeeping: nothing reserved, provisioned == what exists
  const pools = await api(server, 'GET', `/v1/pools?service=${SERVICE}`);
  assert.equal(pools.status, 200);
  const pool = (pools.body.items as any[]).find((p) => p.name === POOL);
  assert.ok(pool, `pool ${POOL} listed`);
  const sum = volumes.reduce((s, v) => s + (v.size as number), 0);
  assert.equal(pool.reservedBytes, 0, 'no reservation leaked');
  assert.equal(pool.provisionedBytes, sum, 'provisioned bytes == sum of the sizes of existing volumes');
  assert.equal(pool.volumes, volumes.length);
  const service = await api(server, 'GET', `/v1/services/${SERVICE}`);
  assert.equal(service.body.usage.volumes, volumes.length, 'service usage counts the existing volumes');
  assert.equal(service.body.usage.bytes, sum, 'service usage bytes == sum of sizes');

  // 4. disk == catalog: no orphan directory, no missing one, nothing staged, no stray metadata
  const root = poolDir(server, SERVICE, POOL);
  const catalogIds = volumes.map((v) => v.id as string).sort();
  assert.deepEqual(volumeDirs(server, SERVICE, POOL), catalogIds, 'the pool volumes/ dir holds exactly the catalog volumes');
  assert.deepEqual(listDir(join(root, '.staging')), [], '.staging is empty');
  assert.deepEqual(listDir(join(root, '.meta', 'volumes')), catalogIds.map((id) => `${id}.json`), 'one metadata file per volume, no stray');

  // 5. the start-up reconcile says what it did, and nothing is unmanaged or failed
  const rec = await api(server, 'GET', '/v1/reconcile');
  assert.equal(rec.status, 200, rec.text);
  const report = rec.body.last;
  assert.ok(report && typeof report === 'object', `a reconcile report: ${rec.text}`);
  assert.ok(report.startedAt >= restartedAt, `the report is this start's (started ${report.startedAt}, server started ${restartedAt})`);
  for (const k of ['finished', 'rolledBack', 'deleted', 'missingBackend', 'unmanaged', 'usageFixed', 'errors']) {
    assert.ok(Array.isArray(report[k]), `report.${k} is a list: ${rec.text}`);
  }
  assert.deepEqual(report.errors, [], 'reconcile had no errors');
  assert.deepEqual(report.unmanaged, [], 'no backend volume without a record');
  assert.deepEqual(report.missingBackend, [], 'no record without a backend volume');
  const ids = new Set(catalogIds);
  for (const id of report.finished as string[]) assert.ok(ids.has(id), `finished ${id} exists`);
  for (const id of report.rolledBack as string[]) assert.ok(!ids.has(id), `rolled back ${id} is gone`);
  const repaired = report.finished.length + report.rolledBack.length + (report.cleaned ?? 0);
  repairs.push(repaired);
  t.diagnostic(`reconcile at ${report.startedAt}: finished ${report.finished.length}, rolledBack ${report.rolledBack.length}, cleaned ${report.cleaned}, usageFixed ${report.usageFixed.length}`);

  // 6. the cut-off creates can be made again: existing ones come back (200), the rest are new (201)
  const unanswered = outcomes.filter((o) => o.response === undefined);
  const retries = await Promise.all(unanswered.map((o) => api(server, 'POST', '/v1/volumes', { service: SERVICE, name: o.name, size: o.size })));
  retries.forEach((r, i) => {
    const o = unanswered[i]!;
    const existed = byName.get(o.name);
    assert.equal(r.status, existed ? 200 : 201, `retry of ${o.name}: ${r.text}`);
    if (existed) assert.equal(r.body.id, existed.id);
    acknowledged.set(o.name, { id: r.body.id, size: o.size });
  });
  const after = await api(server, 'GET', `/v1/pools?service=${SERVICE}`);
  const p2 = (after.body.items as any[]).find((p) => p.name === POOL);
  assert.equal(p2.reservedBytes, 0);
  assert.equal(p2.volumes, volumes.length + retries.filter((r) => r.status === 201).length);
  assert.equal(volumeDirs(server, SERVICE, POOL).length, p2.volumes);
}
