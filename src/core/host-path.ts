import path from 'node:path';
import { invalid } from './errors.js';

/** Longest host path accepted (Linux PATH_MAX is 4096 including the NUL). */
export const MAX_HOST_PATH = 4095;

/**
 * Checks a path on a node's filesystem that a client hands in (staging path, target path):
 * a string, absolute, already normalised (no `//`, no `.` or `..` segments, no trailing `/`),
 * not the root itself, without control characters and at most MAX_HOST_PATH characters.
 * Returns it unchanged; throws INVALID_ARGUMENT naming `field` otherwise.
 */
export function checkHostPath(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'must be a non-empty absolute path');
  if (value.length > MAX_HOST_PATH) throw invalid(field, `must be at most ${MAX_HOST_PATH} characters, got ${value.length}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(field, 'must not contain control characters');
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (!value.startsWith('/')) throw invalid(field, `must be an absolute path, got ${shown}`);
  if (value.split('/').some((s) => s === '..')) throw invalid(field, `must not contain ".." segments, got ${shown}`);
  if (value === '/') throw invalid(field, 'must not be the filesystem root');
  if (path.posix.normalize(value) !== value || value.endsWith('/')) {
    throw invalid(field, `must be normalised (no "//", "." segments or trailing "/"), got ${shown}`);
  }
  return value;
}
