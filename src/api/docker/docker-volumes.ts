import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PollyError, invalid, notFound } from '../../core/errors.js';
import type { Caller, Volume } from '../../core/model.js';
import { checkLabels, checkName } from '../../core/names.js';
import type { Polly } from '../../core/polly.js';
import { parseSize } from '../../core/units.js';
import { KeyedQueue, MountCounter } from './mount-counter.js';

export interface DockerVolumesOptions {
  readonly polly: Polly;
  /** This host's node id (the in-process agent's). */
  readonly nodeId: string;
  /** Where volumes are mounted for Docker: `<mountRoot>/<volume id>`. */
  readonly mountRoot: string;
  /** Service of volumes created without `--opt service=`. */
  readonly defaultService: string;
  /**
   * `local` (default): the server's own node — the attachment is a catalog claim and core's node
   * use cases stage the volume at `<mountRoot>/<id>` (D77). `agent`: a node with its own agent —
   * attaching it makes that agent mount it (at `<its mountDir>/<id>`, in its mount namespace) and
   * the attachment names the path; detaching makes the agent unmount it (D80).
   */
  readonly nodeSide?: 'local' | 'agent';
}

/** The scheduler identity of the Docker plugin: it sees volumes created through it or offered to `docker`. */
export const DOCKER_IDENTITY = 'docker';

const OPTS = ['size', 'type', 'service', 'iops', 'labels'] as const;

/** `--opt labels=k=v,k2=v2` → a label map. */
function parseLabels(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part === '') continue;
    const i = part.indexOf('=');
    if (i <= 0) throw invalid('labels', `"${part.slice(0, 64)}" is not key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return checkLabels('labels', out);
}

/**
 * What the Docker volume plugin does, in Polly terms: names are Polly volume names (looked up in
 * every service the identity may see, the default service first); Mount attaches the volume to
 * this node and mounts it (see `nodeSide`), counting holders by mount ID; Unmount by the last
 * holder unmounts and detaches it. RWO is core's: a Mount while another node holds the volume is
 * refused naming the holder.
 */
export class DockerVolumes {
  readonly caller: Caller = { kind: 'scheduler', name: DOCKER_IDENTITY, services: '*' };
  private readonly mounts = new MountCounter();
  private readonly queue = new KeyedQueue();

  constructor(private readonly o: DockerVolumesOptions) {}

  private get local(): boolean {
    return this.o.nodeSide !== 'agent';
  }

  mountpointOf(v: Volume): string {
    if (this.local) return join(this.o.mountRoot, v.id);
    return v.attachments.find((a) => a.nodeId === this.o.nodeId)?.mountPath ?? '';
  }

  mounted(v: Volume): boolean {
    return this.mounts.count(v.id) > 0;
  }

  private services(): string[] {
    const names = this.o.polly.listServices(this.caller).map((s) => s.name);
    return [this.o.defaultService, ...names.filter((n) => n !== this.o.defaultService)].filter((n) => names.includes(n));
  }

  /** The volume Docker calls `name`; NOT_FOUND when no service has it. */
  async find(name: unknown): Promise<Volume> {
    const n = checkName('Name', name);
    const found: Volume[] = [];
    for (const service of this.services()) {
      const page = await this.o.polly.listVolumes(this.caller, { service, name: n }, 1);
      found.push(...page.items);
    }
    if (found.length === 0) throw notFound('volume', n);
    if (found.length > 1) throw new PollyError('CONFLICT', `volume name ${n} exists in services ${found.map((v) => v.service).join(', ')}; Docker names must be unique`);
    return found[0]!;
  }

  async create(name: unknown, opts: unknown): Promise<Volume> {
    const n = checkName('Name', name);
    if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts))) throw invalid('Opts', 'must be an object of strings');
    const o = (opts ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (!(OPTS as readonly string[]).includes(k)) throw invalid(`Opts.${k.slice(0, 64)}`, `is not an option; accepted: ${OPTS.join(', ')}`);
      if (typeof v !== 'string') throw invalid(`Opts.${k}`, 'must be a string');
    }
    const s = o as Partial<Record<(typeof OPTS)[number], string>>;
    const iops = s.iops === undefined ? undefined : Number(s.iops);
    if (iops !== undefined && (!/^\d{1,9}$/.test(s.iops!) || !Number.isSafeInteger(iops))) throw invalid('Opts.iops', 'must be a whole number');
    const service = s.service ?? this.o.defaultService;
    return this.queue.run(`name:${n}`, async () => {
      const { volume } = await this.o.polly.createVolume(this.caller, {
        service, name: n,
        ...(s.size !== undefined ? { sizeBytes: parseSize('Opts.size', s.size) } : {}),
        ...(s.type !== undefined ? { type: s.type } : {}),
        ...(iops !== undefined ? { iops } : {}),
        ...(s.labels !== undefined ? { labels: parseLabels(s.labels) } : {}),
        schedulers: [DOCKER_IDENTITY],
      });
      return volume;
    });
  }

  async mount(name: unknown, mountId: unknown): Promise<string> {
    const id = this.checkMountId(mountId);
    const v = await this.find(name);
    return this.queue.run(v.id, async () => {
      this.mounts.add(v.id, id);
      let attachedHere = false;
      try {
        // Checked for every holder, not only the first: an attachment revoked meanwhile (this
        // node was fenced) is taken again, or refused while another node holds the volume.
        let current = await this.o.polly.getVolume(this.caller, v.id);
        if (!current.attachments.some((a) => a.nodeId === this.o.nodeId)) {
          current = await this.o.polly.attachVolume(this.caller, v.id, { nodeId: this.o.nodeId });
          attachedHere = true;
        }
        if (!this.local) {
          const path = this.mountpointOf(current);
          if (path === '') throw new PollyError('INTERNAL', `the agent of node ${this.o.nodeId} attached volume ${v.id} without a mount path`);
          return path;
        }
        const path = this.mountpointOf(v);
        await this.o.polly.stageVolume(this.caller, v.id, { stagingPath: path });
        return path;
      } catch (e) {
        this.mounts.forget(v.id, id);
        // Only what this Mount attached is given back: an attachment another front door made
        // for this node (CSI, REST) is theirs.
        if (this.mounts.count(v.id) === 0 && attachedHere) await this.release(v).catch(() => undefined);
        throw e;
      }
    });
  }

  async unmount(name: unknown, mountId: unknown): Promise<void> {
    const id = this.checkMountId(mountId);
    const v = await this.find(name);
    await this.queue.run(v.id, async () => {
      if (!this.mounts.remove(v.id, id)) return;
      await this.release(v);
    });
  }

  /**
   * Unstages and detaches from this node (both idempotent); the empty mount point goes too. On a
   * node with an agent the detach is the agent's unmount and release.
   */
  private async release(v: Volume): Promise<void> {
    if (!this.local) {
      await this.o.polly.detachVolume(this.caller, v.id, this.o.nodeId);
      return;
    }
    await this.o.polly.unstageVolume(this.caller, v.id, this.mountpointOf(v));
    await this.o.polly.detachVolume(this.caller, v.id, this.o.nodeId);
    // rmdir removes only an empty directory that is no mount point: never content.
    await rmdir(this.mountpointOf(v)).catch(() => undefined);
  }

  async remove(name: unknown): Promise<void> {
    const v = await this.find(name);
    await this.queue.run(v.id, async () => {
      if (this.mounts.count(v.id) > 0) throw new PollyError('FAILED_PRECONDITION', `volume ${v.name} is mounted by ${this.mounts.count(v.id)} container(s) on this host`);
      // A mount left over from before a restart is released here, never on another node's behalf.
      if (v.attachments.some((a) => a.nodeId === this.o.nodeId)) await this.release(v);
      await this.o.polly.deleteVolume(this.caller, v.id);
    });
  }

  async list(): Promise<Volume[]> {
    const out: Volume[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.o.polly.listVolumes(this.caller, {}, 10_000, cursor);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor !== undefined);
    return out;
  }

  private checkMountId(value: unknown): string {
    if (typeof value !== 'string' || value.length === 0 || value.length > 256 || !/^[\x21-\x7e]+$/.test(value)) {
      throw invalid('ID', 'must be the caller id Docker sends (1-256 printable characters)');
    }
    return value;
  }
}
