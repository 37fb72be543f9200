/**
 * JSON read from disk, checked against a zod schema: the error names the file, the field (as a
 * path such as `preprocess.mean[1]`) and what was wrong, instead of a cast that fails later.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { parseJson } from './parse-json.js';

/** `value` checked against `schema`; `source` (the file) and the failing fields appear in the error. */
export function checkJson<S extends z.ZodType>(value: unknown, schema: S, source: string, what = 'JSON'): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.slice(0, 5).map((i) => `${fieldPath(i.path) || '(top level)'}: ${i.message}`);
  const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
  throw new Error(`${source}: invalid ${what}: ${problems.join('; ')}${more}`);
}

/** JSON text parsed and checked against `schema`. */
export function parseJsonAs<S extends z.ZodType>(text: string, schema: S, source: string, what?: string): z.output<S> {
  return checkJson(parseJson(text, source), schema, source, what);
}

/** A JSON file read, parsed and checked against `schema`. */
export function readJsonAs<S extends z.ZodType>(path: string, schema: S, what?: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read${what ? ` the ${what}` : ''} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseJsonAs(text, schema, path, what);
}

/** `a.b[2].c` from zod's issue path. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}
