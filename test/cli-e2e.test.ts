/**
 * The `polly` CLI end to end (issue 2, items 9 and 10): a real server process on a temp data dir,
 * driven only through the CLI. Files on disk are inspected (and some made) directly, as a user
 * of the dir driver would; the server itself is reached only through `polly`.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { GiB, MiB, freshNames, poolDir, volumeDirs } from './support/polly-fixtures.js';
import { cleanup, cliRun, freePort, startPollyServer, type CliOptions, type CliResult, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 300_000 }; // hang protection only; the suite runs ~100 CLI processes
const SERVICE = 'default';
const POOL = 'local';

after(cleanup);

describe('polly CLI against a real server', LONG, () => {
  let server: RunningServer;
  const names = freshNames('cli');

  before(async () => {
    server = await startPollyServer();
  });
  after(async () => server?.stop());

  const polly = (args: string[], opts?: CliOptions): Promise<CliResult> => cliRun(server, args, opts);

  /** Runs a command that must succeed and parses its (default, YAML) output. */
  async function ok(args: string[], opts?: CliOptions): Promise<any> {
    const r = await polly(args, opts);
    assert.equal(r.code, 0, `polly ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return parseYaml(r.stdout);
  }
  async function okJson(args: string[], opts?: CliOptions): Promise<any> {
    const r = await polly([...args, '--format', 'json'], opts);
    assert.equal(r.code, 0, `polly ${args.join(' ')} --format json failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  }
  /** Runs a command that must fail with exit status `code`; returns its stderr. */
  async function fails(args: string[], code = 1, opts?: CliOptions): Promise<string> {
    const r = await polly(args, opts);
    assert.equal(r.code, code, `polly ${args.join(' ')} should exit ${code}, got ${r.code}:\n${r.stderr}${r.stdout}`);
    assert.ok(!/\n\s+at .+:\d+:\d+\)?\n/.test(r.stderr), `no stack trace: ${r.stderr}`);
    return r.stderr;
  }
  const dirOf = (id: string) => join(poolDir(server, SERVICE, POOL), 'volumes', id);

  let small: any; // 512Mi
  let big: any; // bare 1 → 1 GiB

  it('version prints the client and the server', async () => {
    const out = await ok(['version']);
    assert.equal(typeof out.client.version, 'string');
    assert.equal(out.server.url, server.url);
    assert.equal(out.server.api, 'v1');
    assert.equal(out.server.store, 'sqlite');
    const json = await okJson(['version']);
    assert.equal(json.server.version, out.server.version);
  });

  it('env shows the effective settings and where they come from, without the token', async () => {
    const token = 'tok-0123456789abcdef-secret';
    const r = await polly(['env', '--format', 'json'], { host: false, token, env: { POLLY_HOST: `tcp://127.0.0.1:${server.port}` } });
    assert.equal(r.code, 0, r.stderr);
    const env = JSON.parse(r.stdout);
    assert.equal(env.settings.host, server.url);
    assert.equal(env.settings.hostFrom, 'POLLY_HOST');
    assert.equal(env.settings.tokenFrom, 'POLLY_TOKEN');
    assert.equal(env.environment.POLLY_HOST, `tcp://127.0.0.1:${server.port}`);
    assert.ok(!r.stdout.includes(token), 'the token is never printed');
    assert.ok(!r.stderr.includes(token), 'the token is never printed');
    const yamlOut = await ok(['env']);
    assert.equal(yamlOut.settings.hostFrom, '--host');
  });

  it('volume create takes sizes with units (512Mi) and bare numbers as GiB (1)', async () => {
    small = await ok(['volume', 'create', '--servicename', SERVICE, '--name', names.next(), '--size', '512Mi']);
    assert.equal(small.size, 512 * MiB);
    assert.equal(small.status, 'available');
    assert.equal(small.service, SERVICE);
    assert.match(small.id, /\S/);
    big = await okJson(['volume', 'create', '--servicename', SERVICE, '--name', names.next(), '--size', '1', '--label', 'tier=gold,team=db']);
    assert.equal(big.size, GiB);
    assert.deepEqual(big.labels, { tier: 'gold', team: 'db' });
    // both exist on disk, as directories named by their id
    assert.ok(statSync(dirOf(small.id)).isDirectory());
    assert.ok(statSync(dirOf(big.id)).isDirectory());
  });

  it('creating the same name with the same arguments returns the same volume', async () => {
    const again = await ok(['volume', 'create', '--servicename', SERVICE, '--name', small.name, '--size', '512Mi']);
    assert.equal(again.id, small.id);
  });

  it('volume get lists them as YAML (default), JSON and a table', async () => {
    const yamlList = await ok(['volume', 'get']);
    assert.ok(Array.isArray(yamlList));
    const byId = new Map(yamlList.map((v: any) => [v.id, v]));
    assert.equal((byId.get(small.id) as any)?.size, 512 * MiB);
    assert.equal((byId.get(big.id) as any)?.size, GiB);

    const jsonList = await okJson(['volume', 'get']);
    assert.deepEqual(jsonList.map((v: any) => v.id).sort(), yamlList.map((v: any) => v.id).sort());

    const table = await polly(['volume', 'get', '--format', 'table']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+SERVICE\s+SIZE\s+STATUS/);
    const smallRow = lines.find((l) => l.startsWith(small.id));
    const bigRow = lines.find((l) => l.startsWith(big.id));
    assert.ok(smallRow && /\b512Mi\b/.test(smallRow) && /\bavailable\b/.test(smallRow), `table row: ${smallRow}`);
    assert.ok(bigRow && /\b1Gi\b/.test(bigRow), `table row: ${bigRow}`);

    const filtered = await okJson(['volume', 'get', '--label', 'tier=gold']);
    assert.deepEqual(filtered.map((v: any) => v.id), [big.id]);
    const byName = await okJson(['volume', 'get', '--name', small.name]);
    assert.deepEqual(byName.map((v: any) => v.id), [small.id]);
  });

  it('volume inspect shows one volume (argument or --volumeid)', async () => {
    const a = await ok(['volume', 'inspect', small.id]);
    assert.equal(a.id, small.id);
    assert.equal(a.name, small.name);
    const b = await okJson(['volume', 'inspect', '--volumeid', big.id]);
    assert.equal(b.id, big.id);
    assert.deepEqual(b.labels, { tier: 'gold', team: 'db' });
  });

  it('volume label sets labels and keeps the others; labelremove removes by key', async () => {
    const labelled = await ok(['volume', 'label', '--volumeid', small.id, '--label', 'a=1,b=2']);
    assert.deepEqual(labelled.labels, { a: '1', b: '2' });
    const more = await ok(['volume', 'label', '--volumeid', small.id, '--label', 'c=3']);
    assert.deepEqual(more.labels, { a: '1', b: '2', c: '3' });
    const removed = await ok(['volume', 'labelremove', '--volumeid', small.id, '--label', 'a,c']);
    assert.deepEqual(removed.labels, { b: '2' });
    assert.deepEqual((await ok(['volume', 'inspect', small.id])).labels, { b: '2' });
  });

  it('volume offer / revoke change the schedulers it is offered to', async () => {
    const offered = await okJson(['volume', 'offer', '--volumeid', small.id, '--scheduler', 'kubernetes1,mesos15']);
    assert.deepEqual([...offered.schedulers].sort(), ['kubernetes1', 'mesos15']);
    const forK8s = await okJson(['volume', 'get', '--scheduler', 'kubernetes1']);
    assert.deepEqual(forK8s.map((v: any) => v.id), [small.id]);
    const revoked = await okJson(['volume', 'revoke', '--volumeid', small.id, '--scheduler', 'kubernetes1']);
    assert.deepEqual(revoked.schedulers, ['mesos15']);
    assert.deepEqual(await okJson(['volume', 'get', '--scheduler', 'kubernetes1']), []);
  });

  let snap: any;
  let clone: any;

  it('volume snapshot copies the data; snapshot ls lists it; create --fromsnapshot restores it', async () => {
    // data written into the volume, as a container would
    const dir = dirOf(small.id);
    writeFileSync(join(dir, 'hello.txt'), 'hello from before the snapshot\n');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'data.bin'), Buffer.alloc(64 * 1024, 7));
    chmodSync(join(dir, 'hello.txt'), 0o640);

    snap = await ok(['volume', 'snapshot', '--volumeid', small.id, '--name', 'nightly', '--label', 'keep=7d']);
    assert.equal(snap.volumeId, small.id);
    assert.equal(snap.name, 'nightly');
    assert.equal(snap.status, 'ready');
    assert.deepEqual(snap.labels, { keep: '7d' });

    // a write after the snapshot is not in it
    writeFileSync(join(dir, 'hello.txt'), 'changed after the snapshot\n');

    const listed = await okJson(['snapshot', 'ls']);
    assert.deepEqual(listed.map((s: any) => s.id), [snap.id]);
    const ofVolume = await okJson(['snapshot', 'ls', '--volumeid', small.id]);
    assert.deepEqual(ofVolume.map((s: any) => s.id), [snap.id]);
    assert.deepEqual(await okJson(['snapshot', 'ls', '--volumeid', big.id]), []);
    const table = await polly(['snapshot', 'ls', '--format', 'table']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+NAME\s+VOLUME/);
    assert.ok(table.stdout.includes(snap.id) && table.stdout.includes('nightly'));

    clone = await ok(['volume', 'create', '--servicename', SERVICE, '--name', names.next(), '--fromsnapshot', snap.id]);
    assert.equal(clone.status, 'available');
    assert.equal(clone.size, small.size, 'the size of the source by default');
    assert.deepEqual(clone.source, { kind: 'snapshot', id: snap.id });
    const cdir = dirOf(clone.id);
    assert.equal(readFileSync(join(cdir, 'hello.txt'), 'utf8'), 'hello from before the snapshot\n');
    assert.equal(statSync(join(cdir, 'hello.txt')).mode & 0o777, 0o640, 'modes are kept');
    assert.deepEqual(readFileSync(join(cdir, 'sub', 'data.bin')), Buffer.alloc(64 * 1024, 7));
    // the source is untouched
    assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'changed after the snapshot\n');
  });

  it('volume remove prints the volume as it was and removes its directory', async () => {
    const removed = await ok(['volume', 'remove', '--volumeid', clone.id]);
    assert.equal(removed.id, clone.id);
    assert.ok(!volumeDirs(server, SERVICE, POOL).includes(clone.id), 'directory gone');
    const err = await fails(['volume', 'inspect', clone.id]);
    assert.match(err, /not found/i);
    assert.match(err, /NOT_FOUND/);
  });

  it('volume get --all shows a directory Polly does not manage; volume adopt takes it under management', async () => {
    const legacy = 'legacy-data-1';
    mkdirSync(join(poolDir(server, SERVICE, POOL), 'volumes', legacy));
    writeFileSync(join(poolDir(server, SERVICE, POOL), 'volumes', legacy, 'old.txt'), 'old data');

    const all = await okJson(['volume', 'get', '--all']);
    const unmanaged = all.filter((v: any) => v.managed === false);
    assert.deepEqual(unmanaged.map((v: any) => v.backendId), [legacy]);
    assert.equal(unmanaged[0].service, SERVICE);
    assert.ok(all.filter((v: any) => v.managed === true).some((v: any) => v.id === small.id));
    const plain = await okJson(['volume', 'get']);
    assert.ok(!plain.some((v: any) => v.backendId === legacy || v.name === legacy), 'plain get lists managed volumes only');
    const table = await polly(['volume', 'get', '--all', '--format', 'table']);
    assert.ok(table.stdout.split('\n').some((l) => l.includes(legacy) && /unmanaged/.test(l)), table.stdout);

    const adopted = await ok(['volume', 'adopt', '--servicename', SERVICE, '--pool', POOL, '--backendid', legacy, '--name', 'legacy']);
    assert.equal(adopted.name, 'legacy');
    assert.equal(adopted.status, 'available');
    const after = await okJson(['volume', 'get', '--all']);
    assert.deepEqual(after.filter((v: any) => v.managed === false), [], 'nothing unmanaged left');
    assert.ok(after.some((v: any) => v.id === adopted.id && v.managed === true));
    assert.equal(readFileSync(join(poolDir(server, SERVICE, POOL), 'volumes', legacy, 'old.txt'), 'utf8'), 'old data', 'data kept');
  });

  it('service ls and pool ls describe the default service and its pool', async () => {
    const services = await okJson(['service', 'ls']);
    assert.equal(services.length, 1);
    assert.equal(services[0].name, SERVICE);
    assert.equal(services[0].driver, 'dir');
    assert.deepEqual(services[0].pools, [POOL]);
    const svcTable = await polly(['service', 'ls', '--format', 'table']);
    assert.match(svcTable.stdout, /^NAME\s+DRIVER\s+POOLS/);
    assert.match(svcTable.stdout, /\ndefault\s+dir\s+local\b/);

    const pools = await okJson(['pool', 'ls']);
    assert.equal(pools.length, 1);
    assert.equal(pools[0].name, POOL);
    assert.equal(pools[0].service, SERVICE);
    const volumes = await okJson(['volume', 'get']);
    assert.equal(pools[0].volumes, volumes.length);
    assert.equal(pools[0].reservedBytes, 0);
    assert.equal(pools[0].provisionedBytes, volumes.reduce((s: number, v: any) => s + v.size, 0));
    const ofService = await okJson(['pool', 'ls', '--servicename', SERVICE]);
    assert.equal(ofService.length, 1);
    const poolTable = await polly(['pool', 'ls', '--format', 'table']);
    assert.match(poolTable.stdout, /^SERVICE\s+NAME/);
  });

  it('--host tcp://host:port and POLLY_HOST both reach the server', async () => {
    const viaTcp = await cliRun(server, ['--host', `tcp://127.0.0.1:${server.port}`, 'volume', 'inspect', small.id, '--format', 'json'], { host: false });
    assert.equal(viaTcp.code, 0, viaTcp.stderr);
    assert.equal(JSON.parse(viaTcp.stdout).id, small.id);
    const viaEnv = await cliRun(server, ['volume', 'inspect', small.id, '--format', 'json'], { host: false, env: { POLLY_HOST: `tcp://127.0.0.1:${server.port}` } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(JSON.parse(viaEnv.stdout).id, small.id);
    const viaPlainEnv = await cliRun(server, ['version', '--format', 'json'], { host: false, env: { POLLY_HOST: `127.0.0.1:${server.port}` } });
    assert.equal(viaPlainEnv.code, 0, viaPlainEnv.stderr);
    assert.equal(JSON.parse(viaPlainEnv.stdout).server.url, server.url);
    // the flag wins over the variable
    const bothPort = await freePort();
    const flagWins = await cliRun(server, ['--host', server.url, 'version', '--format', 'json'], { host: false, env: { POLLY_HOST: `127.0.0.1:${bothPort}` } });
    assert.equal(flagWins.code, 0, flagWins.stderr);
  });

  describe('errors exit non-zero with the server message', () => {
    it('an unknown volume id', async () => {
      const err = await fails(['volume', 'inspect', 'vol-does-not-exist']);
      assert.match(err, /vol-does-not-exist/);
      assert.match(err, /not found/i);
      const rm = await fails(['volume', 'remove', '--volumeid', 'vol-does-not-exist']);
      assert.match(rm, /not found/i);
      const label = await fails(['volume', 'label', '--volumeid', 'vol-does-not-exist', '--label', 'a=b']);
      assert.match(label, /not found/i);
    });

    it('a duplicate name with a different size is a conflict and changes nothing', async () => {
      const before = volumeDirs(server, SERVICE, POOL);
      const err = await fails(['volume', 'create', '--servicename', SERVICE, '--name', small.name, '--size', '2Gi']);
      assert.match(err, new RegExp(small.name));
      assert.match(err, /already exists|conflict/i);
      assert.match(err, /\((CONFLICT|ALREADY_EXISTS)\)/);
      assert.deepEqual(volumeDirs(server, SERVICE, POOL), before);
      assert.equal((await ok(['volume', 'inspect', small.id])).size, 512 * MiB);
    });

    it('a name with ../ (or a slash) is refused, naming the field, and nothing is made', async () => {
      const before = volumeDirs(server, SERVICE, POOL);
      for (const bad of ['../escape', 'a/b', '..']) {
        const err = await fails(['volume', 'create', '--servicename', SERVICE, '--name', bad, '--size', '1Mi']);
        assert.match(err, /name/, `the message names the field: ${err}`);
        assert.match(err, /INVALID_ARGUMENT/);
      }
      assert.deepEqual(volumeDirs(server, SERVICE, POOL), before);
      const parent = join(poolDir(server, SERVICE, POOL));
      assert.ok(!volumeDirs(server, SERVICE, POOL).includes('escape'));
      assert.throws(() => statSync(join(parent, 'escape')), /ENOENT/);
    });

    it('an unknown service', async () => {
      const err = await fails(['volume', 'create', '--servicename', 'nosuchservice', '--name', 'x1', '--size', '1Mi']);
      assert.match(err, /nosuchservice/);
    });

    it('a malformed size or a missing required option is a usage error (exit 2), never sent', async () => {
      const before = volumeDirs(server, SERVICE, POOL);
      await fails(['volume', 'create', '--servicename', SERVICE, '--name', 'badsize', '--size', '10Qi'], 2);
      await fails(['volume', 'create', '--servicename', SERVICE, '--size', '1Mi'], 2);
      await fails(['volume', 'frobnicate'], 2);
      await fails(['--host', 'unix:///tmp/polly.sock', 'version'], 2);
      assert.deepEqual(volumeDirs(server, SERVICE, POOL), before);
    });

    it('an unreachable server says so', async () => {
      const port = await freePort();
      const r = await cliRun(null, ['--host', `tcp://127.0.0.1:${port}`, 'volume', 'get']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot reach/i);
      assert.match(r.stderr, new RegExp(String(port)));
    });
  });

  describe('store get / erase', () => {
    it('store get prints the records, keyed by store key', async () => {
      const out = await ok(['store', 'get']);
      assert.ok(out && typeof out === 'object');
      const keys = Object.keys(out);
      assert.ok(keys.some((k) => k.includes(small.id)), `a record of ${small.id}: ${keys.join(', ')}`);
      const json = await okJson(['store', 'get', '--prefix', 'volumes/']);
      assert.ok(Array.isArray(json) && json.length > 0);
      for (const r of json) {
        assert.ok(r.key.startsWith('volumes/'));
        assert.equal(typeof r.revision, 'number');
      }
    });

    it('store erase without --yes on a non-terminal is refused (exit 2) and erases nothing', async () => {
      const before = await okJson(['store', 'get']);
      const err = await fails(['store', 'erase'], 2, { input: 'yes\n' });
      assert.match(err, /--yes/);
      assert.deepEqual(await okJson(['store', 'get']), before);
    });

    it('store erase --yes erases every record', async () => {
      const count = (await okJson(['store', 'get'])).length;
      assert.ok(count > 0);
      const r = await polly(['store', 'erase', '--yes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`erased: ${count}\\b`));
      assert.deepEqual(await okJson(['store', 'get']), []);
      assert.deepEqual(await okJson(['volume', 'get']), []);
    });
  });
});
