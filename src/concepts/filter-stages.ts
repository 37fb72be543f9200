/**
 * Step 1b's four concept filters as decisions over given similarities (computed by
 * text-similarity.ts and image-similarity.ts; run in order by filter.ts), each with its report
 * stage (report.ts). Thresholds default to Label-Free CBM's.
 */
import type { DroppedConcept, StageReport } from './report.js';

/** LF-CBM's defaults. */
export const FILTER_DEFAULTS = {
  maxLength: 30,
  classSimilarity: 0.85,
  duplicateSimilarity: 0.9,
  clipCutoff: 0.25,
  topK: 5,
} as const;

/** A filter's result: the survivors (in input order) and the stage's report. */
export interface StageResult {
  kept: string[];
  stage: StageReport;
}

/** Filter 1: drops concepts longer than `maxLength` characters (code points, like Python's `len`). */
export function dropTooLong(concepts: readonly string[], maxLength: number = FILTER_DEFAULTS.maxLength): StageResult {
  const kept: string[] = [];
  const dropped: DroppedConcept[] = [];
  for (const c of concepts) {
    const n = [...c].length;
    if (n <= maxLength) kept.push(c);
    else dropped.push({ concept: c, value: n });
  }
  return {
    kept,
    stage: {
      stage: 'length',
      rule: `dropped when longer than ${maxLength} characters`,
      threshold: maxLength,
      measure: 'characters',
      input: concepts.length,
      dropped,
    },
  };
}

/** The concepts that spell a class name, bare or after `a `, `an ` or `the ` (case-insensitive): index → class. */
export function classNameMatches(concepts: readonly string[], classes: readonly string[]): Map<number, string> {
  const names = new Map<string, string>();
  for (const cls of classes) {
    const k = cls.trim().toLowerCase();
    for (const p of ['', 'a ', 'an ', 'the ']) if (!names.has(p + k)) names.set(p + k, cls);
  }
  const out = new Map<number, string>();
  concepts.forEach((c, i) => {
    const cls = names.get(c.trim().toLowerCase().replace(/\s+/g, ' '));
    if (cls !== undefined) out.set(i, cls);
  });
  return out;
}

/**
 * Filter 2: drops concepts that spell a class name, then those whose similarity to some class
 * is ≥ `cutoff`. `similarity(kept)` gives, for the concepts left after the text match, the
 * largest similarity to any class and that class's index.
 */
export async function dropSimilarToClasses(
  concepts: readonly string[],
  classes: readonly string[],
  similarity: (concepts: string[]) => Promise<{ max: Float32Array; arg: Int32Array }>,
  cutoff: number = FILTER_DEFAULTS.classSimilarity,
  measure = 'text similarity',
): Promise<StageResult> {
  const dropped: DroppedConcept[] = [];
  const textMatches = classNameMatches(concepts, classes);
  const rest: string[] = [];
  concepts.forEach((c, i) => {
    const cls = textMatches.get(i);
    if (cls !== undefined) dropped.push({ concept: c, value: 1, match: cls, note: 'text match' });
    else rest.push(c);
  });
  const kept: string[] = [];
  if (rest.length > 0) {
    const { max, arg } = await similarity(rest);
    const cut = Math.fround(cutoff); // similarities are float32: 0.85 in the matrix meets 0.85
    if (max.length !== rest.length || arg.length !== rest.length) throw new Error(`class similarity: ${max.length} values for ${rest.length} concepts`);
    rest.forEach((c, i) => {
      if (max[i]! >= cut) dropped.push({ concept: c, value: max[i]!, match: classes[arg[i]!] ?? `class #${arg[i]}` });
      else kept.push(c);
    });
  }
  return {
    kept,
    stage: {
      stage: 'class-similarity',
      rule: `dropped when it spells a class name or its similarity to a class name is ≥ ${cutoff}`,
      threshold: cutoff,
      measure,
      input: concepts.length,
      dropped,
    },
  };
}

/**
 * Filter 3: LF-CBM's near-duplicate scan over `rows` (the similarity matrix of `concepts`, in
 * that order): for i, then j, a pair with similarity ≥ `cutoff` whose members are both present
 * loses i when its row sum is smaller than j's, else j.
 */
export async function dropNearDuplicates(
  concepts: readonly string[],
  rows: { M: number; sums: Float32Array; row(i: number): Promise<Float32Array> },
  cutoff: number = FILTER_DEFAULTS.duplicateSimilarity,
  measure = 'text similarity',
): Promise<StageResult> {
  const M = concepts.length;
  if (rows.M !== M || rows.sums.length !== M) throw new Error(`near-duplicates: similarity rows for ${rows.M} concepts, ${M} given`);
  const deleted = new Uint8Array(M);
  const dropped: DroppedConcept[] = [];
  const sums = rows.sums;
  const cut = Math.fround(cutoff);
  for (let i = 0; i < M; i++) {
    if (deleted[i]) continue;
    const r = await rows.row(i);
    for (let j = 0; j < M; j++) {
      if (j === i || deleted[j] || !(r[j]! >= cut)) continue;
      const [lose, keep] = sums[i]! < sums[j]! ? [i, j] : [j, i];
      deleted[lose] = 1;
      dropped.push({
        concept: concepts[lose]!,
        value: r[j]!,
        match: concepts[keep]!,
        note: `summed similarity ${sums[lose]!.toFixed(3)} ${sums[lose]! < sums[keep]! ? '<' : '='} ${sums[keep]!.toFixed(3)}`,
      });
      if (lose === i) break;
    }
  }
  const kept = concepts.filter((_, i) => !deleted[i]);
  return {
    kept,
    stage: {
      stage: 'near-duplicate',
      rule: `of two concepts with similarity ≥ ${cutoff}, dropped the one with the smaller summed similarity to all concepts`,
      threshold: cutoff,
      measure,
      input: M,
      dropped,
    },
  };
}

/** Filter 4: drops concepts whose mean top-k image similarity `top` is not above `cutoff`. */
export function dropAbsent(
  concepts: readonly string[],
  top: Float32Array,
  cutoff: number = FILTER_DEFAULTS.clipCutoff,
  k: number = FILTER_DEFAULTS.topK,
  nImages?: number,
): StageResult {
  if (top.length !== concepts.length) throw new Error(`absent-from-data: ${top.length} values for ${concepts.length} concepts`);
  const kept: string[] = [];
  const dropped: DroppedConcept[] = [];
  const cut = Math.fround(cutoff);
  concepts.forEach((c, i) => {
    if (top[i]! > cut) kept.push(c);
    else dropped.push({ concept: c, value: top[i]! });
  });
  const over = nImages !== undefined ? ` over ${nImages} training images` : '';
  return {
    kept,
    stage: {
      stage: 'absent-from-data',
      rule: `dropped when the mean of its top-${k} CLIP image similarities is not above ${cutoff}`,
      threshold: cutoff,
      measure: `mean top-${k} CLIP image–text similarity${over}`,
      input: concepts.length,
      dropped,
    },
  };
}
