/**
 * Step 1b: Label-Free CBM's concept filters, in SPEC's order, each decision reported
 * (report.ts). Facts from LF-CBM's `conceptset_utils.py` and `train_cbm.py`:
 *
 * 1. length: dropped when longer than 30 characters (`len(concept) > 30`, code points);
 * 2. class similarity: first exact matches of a class name, bare or after `a `/`an `/`the `
 *    (LF-CBM compares a few case variants; here case-insensitively), then concepts whose text
 *    similarity to any class name is ≥ 0.85. LF-CBM's loop also skips the pair whose class index
 *    equals the concept index (`i != j`), an evident slip not reproduced here;
 * 3. near-duplicates: the concepts (sorted, as LF-CBM's class filter leaves them) are scanned
 *    pair by pair, row by row; a pair with similarity ≥ 0.9 whose members are both still present
 *    loses the one with the smaller summed similarity to all concepts (row sums of the whole
 *    matrix, diagonal included, computed once); on a tie the later one (j) goes;
 * 4. absent from the data: CLIP image–text similarity of every training image (whole image, no
 *    prompt) with every concept; a concept whose mean of its top-5 similarities is not above
 *    0.25 is dropped (LF-CBM keeps `top5 > clip_cutoff`).
 *
 * This file runs them in order on a concept list; the decisions are in filter-stages.ts, the
 * similarities they decide on in text-similarity.ts (CLIP's text tower, or mixed with a sentence
 * model, models/sentence-encoder.ts) and image-similarity.ts.
 */
import { Engine, getDefaultEngine } from '../engine/session.js';
import type { ImageEncoder } from '../models/encoders.js';
import { silentProgress, type Progress } from '../progress.js';
import { dropAbsent, dropNearDuplicates, dropSimilarToClasses, dropTooLong, FILTER_DEFAULTS, type StageResult } from './filter-stages.js';
import { compareCodePoints } from './generate.js';
import { topImageSimilarities } from './image-similarity.js';
import { conceptReport, type ConceptReport } from './report.js';
import { matrixRows, maxSimilarity, SimilarityRows, similarityEmbeddings, textMeasure, type TextSimilarityModel } from './text-similarity.js';

export { FILTER_DEFAULTS };

/** Options of {@link filterConcepts}; thresholds default to LF-CBM's. */
export interface FilterOptions {
  concepts: readonly string[];
  classes: readonly string[];
  text: TextSimilarityModel;
  /** Training images for the absent-from-data filter (skipped when omitted). */
  images?: { encoder: ImageEncoder; paths: readonly string[] };
  maxLength?: number;
  classSimilarity?: number;
  duplicateSimilarity?: number;
  clipCutoff?: number;
  topK?: number;
  batchSize?: number;
  skipBad?: boolean;
  engine?: Engine;
  progress?: Progress;
}

/** The filtered list and the report of every decision. */
export interface FilterResult {
  kept: string[];
  report: ConceptReport;
  /** Training images that could not be decoded (with `skipBad`). */
  skipped: { path: string; reason: string }[];
}

/**
 * Runs the four filters in SPEC's order on the concepts (trimmed, each once, sorted by code
 * point as LF-CBM's class filter sorts them) and reports every decision.
 */
export async function filterConcepts(options: FilterOptions): Promise<FilterResult> {
  const o = { ...FILTER_DEFAULTS, ...definedOnly(options) };
  const engine = options.engine ?? getDefaultEngine();
  const progress = options.progress ?? silentProgress;
  const { text } = options;
  const classes = [...options.classes];
  if (classes.length === 0) throw new Error('concept filter: no class names');
  const concepts = [...new Set(options.concepts.map((c) => c.trim()).filter((c) => c !== ''))].sort(compareCodePoints);
  if (concepts.length === 0) throw new Error('concept filter: no concepts');
  const measure = textMeasure(text);

  const s1 = dropTooLong(concepts, o.maxLength);
  progress.log(`length: ${s1.stage.dropped.length} dropped`);

  const classEmb = await similarityEmbeddings(text, classes);
  const s2 = await dropSimilarToClasses(
    s1.kept,
    classes,
    async (rest) => {
      const emb = await similarityEmbeddings(text, rest);
      return maxSimilarity(emb.data, rest.length, classEmb.data, classes.length, emb.dim, engine);
    },
    o.classSimilarity,
    measure,
  );
  progress.log(`class similarity: ${s2.stage.dropped.length} dropped`);

  let s3: StageResult;
  if (s2.kept.length > 1) {
    const emb = await similarityEmbeddings(text, s2.kept);
    s3 = await dropNearDuplicates(s2.kept, await SimilarityRows.create(emb.data, s2.kept.length, emb.dim, engine), o.duplicateSimilarity, measure);
  } else {
    s3 = await dropNearDuplicates(s2.kept, matrixRows(new Float32Array(s2.kept.length ** 2).fill(1), s2.kept.length), o.duplicateSimilarity, measure);
  }
  progress.log(`near-duplicates: ${s3.stage.dropped.length} dropped`);

  let s4: StageResult;
  let skipped: { path: string; reason: string }[] = [];
  const settings: Record<string, unknown> = {
    clip: text.clip.id,
    sentenceModel: text.sentence?.id ?? null,
    maxLength: o.maxLength,
    classSimilarity: o.classSimilarity,
    duplicateSimilarity: o.duplicateSimilarity,
    clipCutoff: o.clipCutoff,
    topK: o.topK,
  };
  if (!options.images) {
    s4 = {
      kept: s3.kept,
      stage: { ...dropAbsent([], new Float32Array(0), o.clipCutoff, o.topK).stage, input: s3.kept.length, skipped: 'no training images given' },
    };
  } else if (s3.kept.length === 0) {
    s4 = { kept: [], stage: { ...dropAbsent([], new Float32Array(0), o.clipCutoff, o.topK).stage, skipped: 'no concept left' } };
  } else {
    const { encoder, paths } = options.images;
    if (encoder.embedDim !== text.clip.embedDim) {
      throw new Error(
        `concept filter: the image encoder's embeddings (${encoder.embedDim}) and CLIP text embeddings (${text.clip.embedDim}) differ in width; use one CLIP for both`,
      );
    }
    const T = await text.clip.encodeTexts(s3.kept);
    const top = await topImageSimilarities(encoder, paths, T, s3.kept.length, { batchSize: o.batchSize, skipBad: o.skipBad, k: o.topK, engine, progress });
    skipped = top.skipped;
    s4 = dropAbsent(s3.kept, top.means, o.clipCutoff, o.topK, top.images);
    settings.images = top.images;
    progress.log(`absent from the data: ${s4.stage.dropped.length} dropped`);
  }
  const report = conceptReport(concepts.length, s4.kept, [s1.stage, s2.stage, s3.stage, s4.stage], settings);
  return { kept: s4.kept, report, skipped };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
