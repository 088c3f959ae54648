import { readFile } from 'node:fs/promises';
import { PollyError } from '../../core/errors.js';

/**
 * Reads a driver's JSON metadata file: undefined when there is none, BACKEND_ERROR (naming the
 * driver and file) when it is not JSON or fails `isValid`.
 */
export async function readJsonMetadata<T>(file: string, driver: string, isValid: (value: unknown) => value is T): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseJsonMetadata(text, file, driver, isValid);
}

/** Checks metadata text read from `file` (see readJsonMetadata). */
export function parseJsonMetadata<T>(text: string, file: string, driver: string, isValid: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PollyError('BACKEND_ERROR', `${driver} driver: metadata file ${file} is not valid JSON`, { path: file }, { cause });
  }
  if (!isValid(value)) throw new PollyError('BACKEND_ERROR', `${driver} driver: metadata file ${file} has an unexpected shape`, { path: file });
  return value;
}
