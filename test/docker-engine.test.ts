/**
 * The Docker volume plugin with the real Docker engine (Debian docker.io, root): a dockerd of its
 * own (temp --data-root/--exec-root/--pidfile, its own unix socket, --iptables=false
 * --bridge=none), an image imported from a busybox-static root filesystem, containers with
 * --network none. Docker finds Polly through a spec file naming the plugin's TCP address.
 *
 *   docker volume create -d <polly> --opt size=1 hellopersistence
 *   a container writes a file into it and is removed; a second container reads the file;
 *   `docker volume ls` and `polly volume get` both show it; `docker volume rm` removes it everywhere.
 *
 * When dockerd cannot run here the suite FAILS with the reason; set POLLY_SKIP_DOCKER_E2E=1 to
 * skip it explicitly (the skip is reported, never silent).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loggedAddress, mountsUnder } from './support/front-doors.js';
import { GiB } from './support/polly-fixtures.js';
import { api, cleanup, cliRun, startPollyServer, tempDir, type RunningServer } from './support/server-process.js';

const SKIP = process.env['POLLY_SKIP_DOCKER_E2E'] === '1';
const PLUGIN_DIR = '/etc/docker/plugins';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

describe('Docker engine end to end', { timeout: 300_000, skip: SKIP ? 'POLLY_SKIP_DOCKER_E2E=1' : false }, () => {
  const driver = `polly-e2e-${randomBytes(4).toString('hex')}`;
  const specFile = join(PLUGIN_DIR, `${driver}.spec`);
  let dir: string;
  let dockerSock: string;
  let dockerd: ChildProcess | undefined;
  let dockerdLog = '';
  let server: RunningServer;

  const docker = (args: string[], timeoutMs = 120_000) => {
    const r = spawnSync('docker', ['-H', `unix://${dockerSock}`, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  };
  const ok = (args: string[]) => {
    const r = docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}\n${r.stdout}\n--- dockerd ---\n${dockerdLog.slice(-3000)}`);
    return r.stdout;
  };

  before(async () => {
    // Fail with the reason when the engine cannot run: never a silent pass.
    for (const tool of ['dockerd', 'docker']) {
      assert.equal(spawnSync('which', [tool]).status, 0, `${tool} is not installed (apt-get install docker.io); set POLLY_SKIP_DOCKER_E2E=1 to skip this suite`);
    }
    assert.ok(BUSYBOX, 'busybox is not installed (apt-get install busybox-static); set POLLY_SKIP_DOCKER_E2E=1 to skip');
    assert.equal(process.getuid?.(), 0, 'the Docker engine suite needs root; set POLLY_SKIP_DOCKER_E2E=1 to skip');
    dir = tempDir('dockerd');
    dockerSock = join(dir, 'docker.sock');

    server = await startPollyServer({
      config: {
        server: { nodeId: 'docker-e2e' },
        docker: { host: '127.0.0.1:0', specFile },
        services: { default: { driver: 'dir', pools: [{ name: 'local', capacity: '20Gi' }] } },
      },
    });
    await loggedAddress(server, 'docker plugin listening on tcp');

    writeFileSync(join(dir, 'daemon.json'), '{}');
    dockerd = spawn('dockerd', [
      '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${dockerSock}`, '--iptables=false', '--bridge=none', '--ip-masq=false',
      '--config-file', join(dir, 'daemon.json'),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    dockerd.stdout!.on('data', (c: Buffer) => { dockerdLog += c.toString(); });
    dockerd.stderr!.on('data', (c: Buffer) => { dockerdLog += c.toString(); });
    let exited: string | undefined;
    dockerd.once('exit', (code, signal) => { exited = `dockerd exited (code ${code}, signal ${signal})`; });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) assert.fail(`${exited} before it was ready:\n${dockerdLog.slice(-4000)}`);
      if (docker(['version'], 10_000).code === 0) break;
      if (Date.now() > deadline) assert.fail(`dockerd not ready after 60 s:\n${dockerdLog.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    // An image from a busybox-static root filesystem.
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX!, join(root, 'bin', 'busybox'));
    for (const tool of ['sh', 'cat', 'echo', 'ls']) symlinkSync('busybox', join(root, 'bin', tool));
    const tar = spawnSync('sh', ['-c', `tar -C '${root}' -c . | docker -H 'unix://${dockerSock}' import - polly-e2e:busybox`], { encoding: 'utf8' });
    assert.equal(tar.status, 0, `docker import: ${tar.stderr}`);
  });

  after(async () => {
    if (dockerd && dockerd.exitCode === null && dockerd.signalCode === null) {
      docker(['rm', '-f', ...docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)], 30_000);
      dockerd.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => { dockerd!.kill('SIGKILL'); r(); }, 20_000);
        dockerd!.once('exit', () => { clearTimeout(t); r(); });
      });
    }
    rmSync(specFile, { force: true });
    // dockerd leaves its overlay and netns mounts only when killed; take them down before removing its dirs.
    if (dir) for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    await cleanup();
  });

  it('keeps a file across containers in a Polly volume, shown by docker and by polly', async () => {
    ok(['volume', 'create', '-d', driver, '--opt', 'size=1', 'hellopersistence']);
    ok(['run', '--rm', '--network', 'none', '-v', 'hellopersistence:/data', 'polly-e2e:busybox', 'sh', '-c', 'echo hello from polly > /data/greeting']);
    const read = ok(['run', '--rm', '--network', 'none', '-v', 'hellopersistence:/data', 'polly-e2e:busybox', 'cat', '/data/greeting']);
    assert.equal(read.trim(), 'hello from polly');

    const ls = ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
    assert.ok(ls.split('\n').includes(`${driver} hellopersistence`), ls);
    const cli = await cliRun(server, ['--format', 'json', 'volume', 'get', '--name', 'hellopersistence']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /hellopersistence/);
    const [vol] = (await api(server, 'GET', '/v1/volumes?name=hellopersistence')).body.items;
    assert.equal(vol.size, GiB);
    assert.equal(vol.status, 'available', 'detached once the containers are gone');
    assert.deepEqual(mountsUnder(join(server.dataDir, 'mounts')), []);

    ok(['volume', 'rm', 'hellopersistence']);
    assert.equal((await api(server, 'GET', `/v1/volumes/${vol.id}`)).status, 404, 'removed from Polly');
    assert.equal(ok(['volume', 'ls', '-q']).split('\n').includes('hellopersistence'), false);
  });
});
