import { createHash } from 'node:crypto';
import { invalid } from '../../core/errors.js';
import { checkName, MAX_NAME_BYTES } from '../../core/names.js';

/**
 * CSI names (CreateVolume.name, CreateSnapshot.name) and Polly names.
 *
 * The spec allows any Unicode string of at most 128 bytes without the banned control characters
 * U+0000-U+0008, U+000B, U+000C, U+000E-U+001F and U+007F-U+009F. Polly's names are narrower
 * (letters, digits, ".", "_", "-"). A CSI name that is already a valid Polly name, and does not
 * start with `csi-`, is used as it is; any other one becomes `csi-<sha256 of the name in hex>`
 * (so no name can pose as another's hash), the same for the same name, so
 * CreateVolume and CreateSnapshot stay idempotent. CSI never returns the name, so the mapping is
 * invisible to the CO; in Polly such a volume is listed under its hashed name.
 */
// eslint-disable-next-line no-control-regex
const BANNED = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export const HASHED_NAME_PREFIX = 'csi-';

/** A REQUIRED CSI name field checked as the spec says, mapped to the Polly name it stands for. */
export function pollyNameOf(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'is required');
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) throw invalid(field, `must be at most ${MAX_NAME_BYTES} bytes`);
  if (BANNED.test(value)) throw invalid(field, 'must not contain control characters (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F-U+009F)');
  const hashed = () => HASHED_NAME_PREFIX + createHash('sha256').update(value, 'utf8').digest('hex');
  if (value.startsWith(HASHED_NAME_PREFIX)) return hashed();
  try {
    return checkName(field, value);
  } catch {
    return hashed();
  }
}
