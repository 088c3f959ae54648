import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { RecordedRequest } from '../client/testing/fake-server.js';
import { useFakePolly } from './testing/fake-polly.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('polly volume', () => {
  const f = useFakePolly();
  const { polly, sent } = f;
  const lastSent = (): RecordedRequest => {
    const s = sent();
    assert.ok(s.length > 0, 'no request was sent');
    return s[s.length - 1]!;
  };

  describe('get', () => {
    it('lists every page of volumes as YAML by default', async () => {
      const r = await polly(['volume', 'get']);
      assert.equal(r.code, 0, r.stderr);
      const list = parse(r.stdout) as { id: string; size: number }[];
      assert.deepEqual(list.map((v) => v.id), ['vol-1', 'vol-2', 'vol-3']);
      assert.equal(list[1]!.size, 512 * MiB, 'sizes stay bytes in YAML');
      assert.equal(sent().length, 3);
    });

    it('passes the 2016 filters as query parameters', async () => {
      const r = await polly(['volume', 'get', '--servicename', 'local', '--label', 'color=magenta,tier=1', '--status', 'available', '--scheduler', 'k8s', '--name', 'one']);
      assert.equal(r.code, 0, r.stderr);
      const q = sent()[0]!.query;
      assert.equal(q.get('service'), 'local');
      assert.deepEqual(q.getAll('label'), ['color=magenta', 'tier=1']);
      assert.equal(q.get('status'), 'available');
      assert.equal(q.get('scheduler'), 'k8s');
      assert.equal(q.get('name'), 'one');
      assert.ok(!sent().some((s) => s.path === '/v1/unmanaged'));
    });

    it('--all also lists unmanaged backend volumes, marked managed: false', async () => {
      const r = await polly(['volume', 'get', '--all', '--servicename=local']);
      assert.equal(r.code, 0, r.stderr);
      const list = parse(r.stdout) as { managed: boolean; backendId?: string; id?: string }[];
      assert.equal(list.length, 4);
      assert.deepEqual(list.map((v) => v.managed), [true, true, true, false]);
      assert.equal(list[3]!.backendId, 'orphan-7');
      const um = sent().find((s) => s.path === '/v1/unmanaged');
      assert.equal(um?.query.get('service'), 'local');
    });

    it('--all with a label filter skips unmanaged volumes (they have no labels)', async () => {
      const r = await polly(['volume', 'get', '--all', '--label', 'a=b']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!sent().some((s) => s.path === '/v1/unmanaged'));
    });

    it('draws a table with human sizes', async () => {
      const r = await polly(['--format', 'table', 'volume', 'get']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^ID\s+NAME\s+SERVICE\s+SIZE\s+STATUS\s+POOL\s+SCHEDULERS$/);
      assert.match(lines[1]!, /^vol-1\s+one\s+local\s+10Gi\s+available\s+p1\s+k8s,nomad$/);
      assert.match(lines[2]!, /^vol-2\s+two\s+local\s+512Mi\s+available\s+p1\s+-$/);
      assert.equal(lines.length, 4);
    });

    it('draws unmanaged rows in the --all table', async () => {
      const r = await polly(['volume', 'get', '--all', '--format=table']);
      assert.match(r.stdout, /\n-\s+orphan-7\s+local\s+2Gi\s+unmanaged\s+p1\s+-\n/);
    });

    it('prints pretty JSON', async () => {
      const r = await polly(['volume', 'ls', '--format', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith('[\n  {\n'));
      assert.equal((JSON.parse(r.stdout) as unknown[]).length, 3);
    });

    it('refuses a malformed --label', async () => {
      const r = await polly(['volume', 'get', '--label', 'oops']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /"oops" is not a label/);
      assert.equal(sent().length, 0);
    });
  });

  describe('create', () => {
    it('sends every 2016 flag', async () => {
      const r = await polly([
        'volume', 'create', '--servicename=local', '--name=testing2', '--size=10Gi', '--type=gold', '--iops=300',
        '--availabilityzone=zone-000', '--label=color=magenta,tier=1', '--scheduler=kubernetes1, mesos15',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastSent().body, {
        service: 'local',
        name: 'testing2',
        size: 10 * GiB,
        type: 'gold',
        iops: 300,
        zone: 'zone-000',
        labels: { color: 'magenta', tier: '1' },
        schedulers: ['kubernetes1', 'mesos15'],
      });
      assert.equal((parse(r.stdout) as { name: string }).name, 'testing2');
    });

    for (const [size, bytes] of [['512Mi', 512 * MiB], ['1', GiB], ['2.5Gi', 2.5 * GiB], ['1T', 1e12]] as const) {
      it(`--size ${size} → ${bytes} bytes`, async () => {
        const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'x', '--size', size]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((lastSent().body as { size: number }).size, bytes);
      });
    }

    it('refuses a size it cannot read (exit 2, nothing sent)', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'x', '--size', '10Qi']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--size <size>.*"10Qi" is not a size/);
      assert.equal(sent().length, 0);
    });

    it('takes the service default size when --size is missing', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'fast', '--name', 'x']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((lastSent().body as { size: number }).size, 5 * GiB);
    });

    it('leaves the size to the server when the service reports no default', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'bare', '--name', 'x']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastSent().body, { service: 'bare', name: 'x' });
    });

    it('fails clearly for an unknown service without --size', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'nope', '--name', 'x']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: no service named "nope"/);
    });

    it('requires --servicename and --name', async () => {
      const r = await polly(['volume', 'create', '--name', 'x']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /required option '--servicename <name>' not specified/);
      assert.equal(sent().length, 0);
    });

    it('refuses --fromsnapshot together with --fromvolume', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'x', '--fromsnapshot', 's', '--fromvolume', 'v']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /cannot be used with/);
    });

    it('clones synchronously (no Prefer header) when stdout is not a terminal', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'c', '--size', '4Gi', '--fromvolume', 'vol-1']);
      assert.equal(r.code, 0, r.stderr);
      const req = lastSent();
      assert.deepEqual((req.body as { source: unknown }).source, { volume: 'vol-1' });
      assert.equal(req.headers.prefer, undefined);
      assert.equal(r.stderr, '');
    });

    it('takes the source size for a copy without --size', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'c', '--fromsnapshot', 'snap-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sent()[0]!.path, '/v1/snapshots/snap-1');
      assert.deepEqual(lastSent().body, { service: 'local', name: 'c', size: 10 * GiB, source: { snapshot: 'snap-1' } });
    });

    it('follows the copy with a progress bar on a terminal', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'local', '--name', 'c', '--size', '4Gi', '--fromsnapshot', 'snap-1'], { stdoutTTY: true });
      assert.equal(r.code, 0, r.stderr);
      const create = sent().find((s) => s.method === 'POST')!;
      assert.equal(create.headers.prefer, 'respond-async');
      assert.ok(sent().filter((s) => s.path === '/v1/operations/op-9').length >= 1);
      assert.match(r.stderr, /restoring \[#+-*\]\s+50%\s+2Gi \/ 4Gi/);
      assert.match(r.stderr, /100%\s+4Gi \/ 4Gi\n$/);
      assert.equal((parse(r.stdout) as { id: string }).id, 'vol-clone');
    });

    it('prints the server error with its code and details, exit 1, no stack', async () => {
      const r = await polly(['volume', 'create', '--servicename', 'full', '--name', 'x', '--size', '10Gi']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'Error: no pool can hold 10Gi (INSUFFICIENT_CAPACITY)\n  pools:\n    p1: needs 10 GiB, 3 GiB free\n');
    });
  });

  describe('by volume id', () => {
    it('remove --volumeid deletes and prints the volume as it was', async () => {
      const r = await polly(['volume', 'remove', '--volumeid=vol-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastSent().method, 'DELETE');
      assert.equal(lastSent().path, '/v1/volumes/vol-1');
      assert.equal((parse(r.stdout) as { status: string }).status, 'deleting');
    });

    it('remove of an unknown volume: Error: … (NOT_FOUND), exit 1', async () => {
      const r = await polly(['volume', 'remove', '--volumeid', 'ghost']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: volume "ghost" not found \(NOT_FOUND\)\n/);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
    });

    it('inspect takes the id as argument or --volumeid', async () => {
      assert.equal((await polly(['volume', 'inspect', 'vol-2'])).code, 0);
      assert.equal(lastSent().path, '/v1/volumes/vol-2');
      assert.equal((await polly(['volume', 'inspect', '--volumeid', 'vol-1'])).code, 0);
      assert.equal(lastSent().path, '/v1/volumes/vol-1');
      const none = await polly(['volume', 'inspect']);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /give the volume id/);
    });

    it('offer sends the scheduler list', async () => {
      const r = await polly(['volume', 'offer', '--format=json', '--scheduler=kubernetes1,mesos15', '--volumeid=vol-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastSent().path, '/v1/volumes/vol-1/offer');
      assert.deepEqual(lastSent().body, { schedulers: ['kubernetes1', 'mesos15'] });
      assert.deepEqual((JSON.parse(r.stdout) as { schedulers: string[] }).schedulers, ['kubernetes1', 'mesos15']);
    });

    it('offer needs --scheduler', async () => {
      const r = await polly(['volume', 'offer', '--volumeid=vol-1']);
      assert.equal(r.code, 2);
    });

    it('revoke sends the schedulers to drop', async () => {
      const r = await polly(['volume', 'revoke', '--scheduler', 'kubernetes1', '--volumeid', 'vol-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastSent().path, '/v1/volumes/vol-1/revoke');
      assert.deepEqual(lastSent().body, { schedulers: ['kubernetes1'] });
    });

    it('label sets labels', async () => {
      const r = await polly(['volume', 'label', '--label=size=large,size2=medium', '--volumeid=vol-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastSent().body, { set: { size: 'large', size2: 'medium' } });
      assert.deepEqual((parse(r.stdout) as { labels: unknown }).labels, { color: 'magenta', size: 'large', size2: 'medium' });
    });

    it('labelremove removes label keys', async () => {
      const r = await polly(['volume', 'labelremove', '--label=region,size', '--volumeid=vol-1']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastSent().body, { remove: ['region', 'size'] });
      assert.deepEqual((parse(r.stdout) as { labels: unknown }).labels, { color: 'magenta' });
    });

    it('snapshot takes a named snapshot (plain request when not on a terminal)', async () => {
      const r = await polly(['volume', 'snapshot', '--volumeid', 'vol-1', '--name', 'nightly', '--label', 'keep=7d']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastSent().path, '/v1/volumes/vol-1/snapshots');
      assert.deepEqual(lastSent().body, { name: 'nightly', labels: { keep: '7d' } });
      assert.equal(lastSent().headers.prefer, undefined);
      assert.equal((parse(r.stdout) as { name: string }).name, 'nightly');
    });

    it('snapshot shows progress on a terminal', async () => {
      const r = await polly(['volume', 'snapshot', '--volumeid', 'vol-1', '--name', 'nightly'], { stdoutTTY: true });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sent()[0]!.headers.prefer, 'respond-async');
      assert.match(r.stderr, /snapshot \[/);
    });

    it('adopt takes a backend volume under management', async () => {
      const r = await polly(['volume', 'adopt', '--servicename', 'local', '--pool', 'p1', '--backendid', 'orphan-7', '--name', 'kept', '--label', 'from=legacy']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastSent().path, '/v1/unmanaged/adopt');
      assert.deepEqual(lastSent().body, { service: 'local', pool: 'p1', backendId: 'orphan-7', name: 'kept', labels: { from: 'legacy' } });
    });
  });
});
