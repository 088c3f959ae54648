import { PollyError } from './errors.js';
import type { Volume, VolumeStatus } from './model.js';

/** The volume state machine of DESIGN.md §2; every status change goes through `transition`. */
const ALLOWED: Readonly<Record<VolumeStatus, readonly VolumeStatus[]>> = {
  creating: ['available', 'error'],
  available: ['attached', 'deleting', 'error'],
  attached: ['attached', 'available', 'error'],
  deleting: ['error'],
  error: ['deleting', 'available'],
};

export function canTransition(from: VolumeStatus, to: VolumeStatus): boolean {
  return ALLOWED[from].includes(to);
}

export function transition(volume: Volume, to: VolumeStatus, now: number, reason?: string): Volume {
  if (!canTransition(volume.status, to)) {
    throw new PollyError('CONFLICT', `volume ${volume.id} is ${volume.status}; it cannot become ${to}`, {
      volumeId: volume.id, status: volume.status, wanted: to,
    });
  }
  const next: Volume = { ...volume, status: to, updatedAt: now };
  if (reason === undefined) {
    const { reason: _dropped, ...rest } = next;
    return rest;
  }
  return { ...next, reason };
}
