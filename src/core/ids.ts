import { monotonicFactory } from 'ulid';

const next = monotonicFactory();

/** Opaque, unique, time-ordered ids: a kind prefix and a lowercase ULID ("vol-01j…"). */
export function newId(kind: 'vol' | 'snap' | 'op' | 'clm'): string {
  return `${kind}-${next().toLowerCase()}`;
}

const ID = /^(vol|snap|op|clm)-[0-9a-z]{26}$/;

export const isPollyId = (value: string): boolean => ID.test(value);
