import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { pointerToPath, type ConfigPath } from './config-path.js';
import type { ProblemList } from './problem-list.js';

type SchemaNode = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true });
ajv.addKeyword('x-accepted');
ajv.addKeyword('x-secret');

const compiled = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (v === undefined) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/**
 * Validates `data` against `schema`; each error becomes one problem (at most one per path) in
 * the words of the configuration: `unknown key; accepted keys: …`, `got …; accepted: …`.
 * Returns true when there was no error.
 */
export function validateSchema(schema: TSchema, data: unknown, problems: ProblemList): boolean {
  const validate = validatorFor(schema);
  if (validate(data)) return true;
  const seen = new Set<string>();
  for (const err of validate.errors ?? []) {
    const problem = describeError(err, data);
    if (problem === undefined) continue;
    const key = JSON.stringify(problem.path);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.add(problem.path, problem.what, problem.accepted);
  }
  return false;
}

function describeError(err: ErrorObject, root: unknown): { path: ConfigPath; what: string; accepted?: string } | undefined {
  const path = pointerToPath(err.instancePath, root);
  const schema = (err.parentSchema ?? {}) as SchemaNode;
  const value = err.data;
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String((err.params as { additionalProperty: string }).additionalProperty);
      const props = Object.keys((schema['properties'] as SchemaNode | undefined) ?? {});
      return { path: [...path, key], what: 'unknown key', accepted: props.length > 0 ? `keys: ${props.join(', ')}` : 'no keys here' };
    }
    case 'required': {
      const key = String((err.params as { missingProperty: string }).missingProperty);
      const sub = ((schema['properties'] as SchemaNode | undefined)?.[key] ?? {}) as SchemaNode;
      return { path: [...path, key], what: 'is required', accepted: accepted(sub) };
    }
    case 'type':
      return { path, what: `got ${show(value, schema)}`, accepted: accepted(schema) };
    case 'enum':
    case 'const':
      return { path, what: `${show(value, schema)} is not supported`, accepted: accepted(schema) };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, what: `${show(value, schema)} is out of range`, accepted: accepted(schema) };
    case 'minItems':
    case 'minProperties':
      return { path, what: 'must not be empty', accepted: accepted(schema) };
    case 'minLength':
      return { path, what: schema['x-secret'] === true || (schema['minLength'] as number) > 1 ? 'is too short' : 'must not be empty', accepted: accepted(schema) };
    case 'maxLength':
      return { path, what: 'is too long', accepted: accepted(schema) };
    default:
      return { path, what: `${show(value, schema)} is not valid`, accepted: accepted(schema) };
  }
}

/** A value as an error message may show it (never a secret). */
function show(value: unknown, schema: SchemaNode): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (schema['x-secret'] === true) return `a value of ${String(value).length} characters`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return `the number ${value}`;
  return String(value);
}

/** What a schema accepts, in words. */
export function accepted(schema: SchemaNode): string {
  if (typeof schema['x-accepted'] === 'string') return schema['x-accepted'];
  if (Array.isArray(schema['enum'])) return (schema['enum'] as unknown[]).map(String).join(', ');
  const type = schema['type'];
  const min = schema['minimum'] as number | undefined;
  const max = schema['maximum'] as number | undefined;
  const range = (): string =>
    min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` of at least ${min}` : max !== undefined ? ` of at most ${max}` : '';
  switch (type) {
    case 'string':
      return 'a string';
    case 'integer':
      return `a whole number${range()}`;
    case 'number':
      return `a number${range()}`;
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object': {
      const props = Object.keys((schema['properties'] as SchemaNode | undefined) ?? {});
      return props.length > 0 ? `a mapping with keys: ${props.join(', ')}` : 'a mapping';
    }
    default:
      return 'a value of the documented form';
  }
}

/**
 * Removes keys whose value is null (`key:` with nothing after it) where the schema names the key,
 * so that an empty value means "not set". Free-form mappings (driver options and parameters,
 * label values) are left alone: there a null is data, or an error the later checks report.
 */
export function stripNulls(schema: TSchema | SchemaNode, data: unknown): void {
  const s = schema as SchemaNode;
  if (Array.isArray(data)) {
    const items = s['items'] as SchemaNode | undefined;
    if (items !== undefined && typeof items === 'object') for (const item of data) stripNulls(items, item);
    return;
  }
  if (data === null || typeof data !== 'object') return;
  const obj = data as Record<string, unknown>;
  const props = s['properties'] as Record<string, SchemaNode> | undefined;
  if (props !== undefined) {
    for (const [key, sub] of Object.entries(props)) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
      if (obj[key] === null) delete obj[key];
      else stripNulls(sub, obj[key]);
    }
  }
  const pattern = s['patternProperties'] as Record<string, SchemaNode> | undefined;
  if (pattern !== undefined) {
    const sub = Object.values(pattern)[0]!;
    for (const value of Object.values(obj)) stripNulls(sub, value);
  }
}
