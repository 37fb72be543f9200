/** Looking up class and concept names, with "did you mean" suggestions in the errors. */
import { closestNames } from '../closest-names.js';

/**
 * The index of `name` in `names` (`kind` is "class" or "concept" for the message). Exact
 * matches win, then a unique case-insensitive one; a number in range is taken as an index
 * when no name matches it.
 */
export function resolveName(names: readonly string[], name: string | number, kind: string): number {
  if (typeof name === 'number') {
    if (Number.isInteger(name) && name >= 0 && name < names.length) return name;
    throw new Error(`${kind} index ${name} is out of range (the model has ${names.length} ${kind === 'class' ? 'classes' : `${kind}s`})`);
  }
  const exact = names.indexOf(name);
  if (exact >= 0) return exact;
  const folded = names.flatMap((n, i) => (n.toLowerCase() === name.toLowerCase() ? [i] : []));
  if (folded.length === 1) return folded[0]!;
  if (/^\d+$/.test(name) && Number(name) < names.length) return Number(name);
  const near = closestNames(names, name);
  throw new Error(`unknown ${kind} ${JSON.stringify(name)}${near.length ? `; did you mean ${near.map((n) => JSON.stringify(n)).join(', ')}?` : ''}`);
}
