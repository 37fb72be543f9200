/** "Did you mean" suggestions: the known names closest to a name that was not found. */

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

/** Up to `k` names closest to `name`: substring matches (either way) first, then by edit distance. */
export function closestNames(names: readonly string[], name: string, k = 3): string[] {
  const lower = name.toLowerCase();
  return names
    .map((n) => ({ n, s: distance(n, name) - (n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase()) ? 1000 : 0) }))
    .sort((a, b) => a.s - b.s)
    .slice(0, k)
    .map((x) => x.n);
}
