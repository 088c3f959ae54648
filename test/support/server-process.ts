/**
 * Real Polly server processes for the end-to-end suites: no mocks, real sockets, a temp data dir.
 *
 * Every process and temp dir made here is tracked; call `cleanup()` from an `after` hook (it is
 * safe to call more than once). A process 'exit' hook SIGKILLs leftovers as a last resort, so a
 * crashed test run never leaves servers behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The repository root: this file runs from dist/test/support/. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
export const POLLY_BIN = join(REPO_ROOT, 'bin', 'polly.js');

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 10_000;
const CLI_TIMEOUT_MS = 120_000;
const OUTPUT_LIMIT = 2 * 1024 * 1024;

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number;
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** What the process wrote so far. */
  stdout(): string;
  stderr(): string;
}

export interface StartOptions {
  dataDir?: string;
  /** Written as YAML to <dataDir>/config.yml and passed with --config. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Extra arguments after `server …` (e.g. ['-l', 'debug']). */
  args?: string[];
  /** The address to listen on (default 127.0.0.1); `url` always points at 127.0.0.1. */
  listenHost?: string;
}

// ---------------------------------------------------------------------------------------------
// tracking and cleanup

const liveChildren = new Set<ChildProcess>();
const liveServers = new Set<RunningServer>();
const tempDirs = new Set<string>();

process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) removeDir(dir);
});

/** A new empty directory under the OS temp dir, removed by `cleanup()`. */
export function tempDir(prefix: string): string {
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  const dir = mkdtempSync(join(tmpdir(), `polly-${safe}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a tree even when parts of it are read-only (snapshots are 0500). */
export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    return;
  } catch {
    // fall through: make everything writable and retry
  }
  const open = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    try {
      chmodSync(p, 0o700);
    } catch {
      // best effort
    }
    for (const name of safeReaddir(p)) open(join(p, name));
  };
  open(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

function safeReaddir(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

/** Stops every server still running (SIGKILL) and removes every temp dir made here. */
export async function cleanup(): Promise<void> {
  await stopAll('SIGKILL');
  for (const dir of [...tempDirs]) {
    removeDir(dir);
    tempDirs.delete(dir);
  }
}

/** Stops every server still running. */
export async function stopAll(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
  await Promise.all([...liveServers].map((s) => s.stop(signal)));
  for (const child of [...liveChildren]) {
    child.kill('SIGKILL');
    await exitOf(child);
  }
}

// ---------------------------------------------------------------------------------------------
// ports, env

/** A loopback port that was free a moment ago (listen on 0, close, reuse). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** The environment of a child: ours without any POLLY_* variable, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POLLY_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// processes

/** A child process with its output captured. */
export interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  stdout(): string;
  stderr(): string;
}

class Capture {
  private chunks: string[] = [];
  private size = 0;
  push(chunk: Buffer | string): void {
    const s = chunk.toString();
    this.chunks.push(s);
    this.size += s.length;
    while (this.size > OUTPUT_LIMIT && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    return this.chunks.join('');
  }
}

function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
}

/**
 * Spawns `node bin/polly.js ...args` from the repository root, tracked until it exits. `wrap` is
 * a command that execs the rest (e.g. `nsenter -t <pid> -m --` to run it in a mount namespace).
 */
export function launchPolly(args: string[], env: NodeJS.ProcessEnv, input?: string, wrap: readonly string[] = []): Launched {
  const argv = [...wrap, process.execPath, POLLY_BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  liveChildren.add(child);
  const out = new Capture();
  const err = new Capture();
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => undefined); // the child may exit before reading its input
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  const exited = new Promise<ExitInfo>((res) => {
    child.once('error', (e) => {
      err.push(`spawn failed: ${e.message}\n`);
      liveChildren.delete(child);
      res({ code: -1, signal: null });
    });
    // 'close' waits for the output streams, so stdout()/stderr() are complete afterwards.
    child.once('close', (code, signal) => {
      liveChildren.delete(child);
      res({ code, signal });
    });
  });
  return { child, exited, stdout: () => out.text(), stderr: () => err.text() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Test servers never take the fixed default ports of the front doors: unless the test configures
 * it, the libStorage listener gets port 0 (its address is in the log: see front-doors.ts).
 */
function frontDoorDefaults(opts: StartOptions): Record<string, string> {
  const ls = (opts.config?.['libstorage'] ?? {}) as Record<string, unknown>;
  return ls['host'] === undefined ? { POLLY_LIBSTORAGE_HOST: '127.0.0.1:0' } : {};
}

/**
 * Starts `polly server` on a free loopback port and waits for /readyz. Without `dataDir` a temp
 * dir is made. With `config`, it is written to <dataDir>/config.yml and passed with --config.
 */
export async function startPollyServer(opts: StartOptions = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? tempDir('data');
  let configFile: string | undefined;
  if (opts.config !== undefined) {
    configFile = join(dataDir, 'config.yml');
    writeFileSync(configFile, stringify(opts.config));
  }
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await startOn(port, dataDir, configFile, opts);
    } catch (e) {
      lastError = e as Error;
      // Another process took the port between our probe and the server's listen: try another.
      if (!/EADDRINUSE/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

/** Starts `polly server` on a given port (e.g. again on the port of a server that stopped). */
export async function startPollyServerOn(port: number, opts: StartOptions & { dataDir: string }): Promise<RunningServer> {
  const configFile = join(opts.dataDir, 'config.yml');
  if (opts.config !== undefined) writeFileSync(configFile, stringify(opts.config));
  return startOn(port, opts.dataDir, opts.config !== undefined ? configFile : undefined, opts);
}

async function startOn(port: number, dataDir: string, configFile: string | undefined, opts: StartOptions): Promise<RunningServer> {
  const args = ['server', '--data-dir', dataDir, '--host', `${opts.listenHost ?? '127.0.0.1'}:${port}`];
  if (configFile !== undefined) args.push('--config', configFile);
  args.push(...(opts.args ?? []));
  const launched = launchPolly(args, childEnv({ ...frontDoorDefaults(opts), ...(opts.env ?? {}) }));
  const { child } = launched;
  const url = `http://127.0.0.1:${port}`;

  let stopping: Promise<void> | undefined;
  const server: RunningServer = {
    url,
    port,
    dataDir,
    pid: child.pid ?? -1,
    exited: launched.exited,
    stdout: launched.stdout,
    stderr: launched.stderr,
    stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          await launched.exited;
          clearTimeout(timer);
        } else {
          await launched.exited;
        }
        liveServers.delete(server);
      })();
      return stopping;
    },
  };
  liveServers.add(server);

  const describe = () => `polly server on ${url} (data dir ${dataDir})\n--- stderr ---\n${launched.stderr().slice(-8000)}\n--- stdout ---\n${launched.stdout().slice(-4000)}`;
  let exitedEarly: ExitInfo | undefined;
  void launched.exited.then((e) => {
    exitedEarly = e;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitedEarly) {
      liveServers.delete(server);
      throw new Error(`server exited before it was ready (code ${exitedEarly.code}, signal ${exitedEarly.signal}): ${describe()}`);
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await server.stop('SIGKILL');
  throw new Error(`server not ready after ${READY_TIMEOUT_MS} ms: ${describe()}`);
}

// ---------------------------------------------------------------------------------------------
// CLI

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Sent as POLLY_TOKEN. */
  token?: string;
  /** Written to the CLI's stdin (a pipe, never a terminal). */
  input?: string;
  env?: Record<string, string>;
  /** false: do not add `--host <server.url>` (the test passes its own --host or POLLY_HOST). */
  host?: boolean;
  timeoutMs?: number;
}

/** Runs `polly <args>` against `server` (adds `--host <url>` unless told not to). */
export async function cliRun(server: RunningServer | null, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const full = server !== null && opts.host !== false ? ['--host', server.url, ...args] : [...args];
  const env = childEnv({ ...(opts.token !== undefined ? { POLLY_TOKEN: opts.token } : {}), ...(opts.env ?? {}) });
  const launched = launchPolly(full, env, opts.input);
  const timeoutMs = opts.timeoutMs ?? CLI_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    launched.child.kill('SIGKILL');
  }, timeoutMs);
  const exit = await launched.exited;
  clearTimeout(timer);
  if (timedOut) throw new Error(`polly ${full.join(' ')} did not finish in ${timeoutMs} ms\nstderr: ${launched.stderr()}\nstdout: ${launched.stdout()}`);
  return { code: exit.code, stdout: launched.stdout(), stderr: launched.stderr() };
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface ApiResponse<T = any> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
  /** The raw body text. */
  readonly text: string;
}

/**
 * One request to the server through global fetch. `body`: an object is sent as JSON; a string or
 * Buffer is sent as it is (with content-type application/json unless `headers` say otherwise).
 * The answer is parsed as JSON when it is JSON. Times out (and throws) after `timeoutMs`.
 */
export async function api<T = any>(
  server: RunningServer | string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ApiResponse<T>> {
  const base = typeof server === 'string' ? server : server.url;
  const h: Record<string, string> = { ...headers };
  let payload: string | Buffer | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers: h, ...(payload !== undefined ? { body: payload as unknown as RequestInit['body'] } : {}), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let parsed: unknown = text;
  if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed as T, headers: res.headers, text };
}

/** `Authorization: Bearer <token>` as a headers object (empty without a token). */
export const bearer = (token?: string): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });
