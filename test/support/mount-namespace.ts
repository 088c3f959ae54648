import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

/**
 * A process (`sleep infinity`) in a new private mount namespace, as a node or a container would
 * have — or, with `propagation: 'slave'`, one whose mounts still receive the mounts and unmounts
 * of those they were copied from (a systemd service with PrivateTmp, a pod with HostToContainer
 * propagation); with `cwd`, its working directory is there. A new namespace starts with a copy
 * of every mount there is — other suites running at the same time have image volumes mounted
 * under the temp dir — and a private copy would keep their filesystems and loop devices busy
 * after they unmount them. So the namespace first lets go of every mount under the temp dir
 * except `keep` (and what lies below it).
 */
export function privateMountNamespace(keep: readonly string[] = [], options: { propagation?: 'private' | 'slave'; cwd?: string } = {}): ChildProcess {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const kept = keep.map((k) => `[ "$m" = ${quote(k)} ] && continue; case "$m" in ${quote(k)}/*) continue;; esac;`).join(' ');
  const script = [
    `for m in $(awk '{print $5}' /proc/self/mountinfo | grep '^${tmpdir().replace(/'/g, '')}/' | sort -r); do`,
    `  ${kept} umount -l "$m" 2>/dev/null;`,
    'done',
    ...(options.cwd === undefined ? [] : [`cd ${quote(options.cwd)} || exit 1`]),
    'exec sleep infinity',
  ].join('\n');
  return spawn('unshare', ['--mount', '--propagation', options.propagation ?? 'private', 'sh', '-c', script], { stdio: 'ignore' });
}

/** Resolves once the namespace has let go of the other mounts (its process is `sleep` now). */
export async function namespaceSettled(holder: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim();
    } catch {
      // not started yet, or gone
    }
    if (comm === 'sleep') return;
    if (holder.exitCode !== null || holder.signalCode !== null) throw new Error(`the mount namespace process exited (${holder.exitCode ?? holder.signalCode})`);
    if (Date.now() > deadline) throw new Error(`the mount namespace was not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
