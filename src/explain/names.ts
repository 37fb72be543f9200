/** Looking up class and concept names, with "did you mean" suggestions in the errors. */

/** Levenshtein distance, case-insensitive. */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `k` names closest to `name` (substring matches first). */
export function closestNames(names: readonly string[], name: string, k = 3): string[] {
  const lower = name.toLowerCase();
  return names
    .map((n) => ({ n, s: distance(n, name) - (n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase()) ? 1000 : 0) }))
    .sort((a, b) => a.s - b.s)
    .slice(0, k)
    .map((x) => x.n);
}

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
