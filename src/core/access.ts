import { PollyError, notFound } from './errors.js';
import type { Caller, Snapshot, Volume } from './model.js';

/** Who may see and do what. Every front door goes through these checks. */
export function mayUseService(caller: Caller, service: string): boolean {
  return caller.kind === 'admin' || caller.services === '*' || caller.services.includes(service);
}

export function assertMayUseService(caller: Caller, service: string): void {
  if (!mayUseService(caller, service)) {
    throw new PollyError('FORBIDDEN', `${caller.name} may not use service ${service}`, { service });
  }
}

/** A scheduler sees a volume offered to it or created by it, in a service it may use. */
export function maySeeVolume(caller: Caller, v: Volume): boolean {
  if (caller.kind === 'admin') return true;
  return mayUseService(caller, v.service) && (v.createdBy === caller.name || v.schedulers.includes(caller.name));
}

/** Loads succeed only for visible volumes; others look exactly like missing ones. */
export function assertMaySeeVolume(caller: Caller, v: Volume | undefined, id: string): Volume {
  if (!v || !maySeeVolume(caller, v)) throw notFound('volume', id);
  return v;
}

export function maySeeSnapshot(caller: Caller, s: Snapshot, source: Volume | undefined): boolean {
  if (caller.kind === 'admin') return true;
  if (!mayUseService(caller, s.service)) return false;
  return s.createdBy === caller.name || (source !== undefined && maySeeVolume(caller, source));
}

export function assertAdmin(caller: Caller, what: string): void {
  if (caller.kind !== 'admin') throw new PollyError('FORBIDDEN', `${what} needs the admin role`);
}
