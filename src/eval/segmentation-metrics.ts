/**
 * Zero-shot segmentation metrics, exactly as the reference evaluation of Chefer et al. (2021)
 * computes them on ImageNet-segmentation (`imagenet_seg_eval.py` and `utils/metrices.py` of
 * Transformer-Explainability), for a heatmap already upsampled to the mask's resolution:
 *
 * 1. min–max normalise the map in float32; a constant map gives 0/0 = NaN everywhere, which the
 *    reference then sets to 0 in every channel;
 * 2. foreground = value strictly greater than the map's mean (a constant map: no foreground);
 * 3. per image: correct pixels, labelled pixels (all of them), and per class {background,
 *    foreground} the intersection and union of prediction and mask;
 * 4. per image: average precision (scikit-learn's `average_precision_score`) of the flattened
 *    two-channel scores [1 − map; map] against the one-hot mask [mask = 0; mask = 1], i.e. every
 *    pixel appears twice, once scored 1 − map (positive when it is background) and once scored
 *    map (positive when it is foreground). For a constant map both scores are 0 (the NaN rule),
 *    so its AP is 0.5;
 * 5. over the data set: pixel accuracy = Σ correct / Σ labelled, IoU per class = Σ intersection /
 *    Σ union (each with numpy's eps, 2.2e-16, in the denominator), mIoU = their mean, mAP = the
 *    mean of the per-image APs.
 *
 * One documented deviation: the threshold is the float64 mean of the float32 map rounded to
 * float32 (torch accumulates in float32; the two differ by about 1e-7 relative). The golden
 * fixture (tools/golden_seg_metrics.py) follows the same rule.
 */

/** Per-image counts and AP; summed/averaged over a data set by {@link summariseSegmentation}. */
export interface SegImageStats {
  /** Pixels whose predicted class equals the mask's. */
  correct: number;
  /** Pixels with a label (all of them in this protocol). */
  labeled: number;
  /** Intersection [background, foreground]. */
  inter: [number, number];
  /** Union [background, foreground]. */
  union: [number, number];
  /** Average precision of the two-channel scores (see the module comment). */
  ap: number;
}

/** Data-set-level metrics, each in [0, 1]. */
export interface SegSummary {
  images: number;
  pixelAccuracy: number;
  /** IoU [background, foreground]. */
  iou: [number, number];
  mIoU: number;
  mAP: number;
}

/** numpy's `np.spacing(1)`: the reference adds it to every denominator. */
const EPS = 2.220446049250313e-16;

/**
 * The reference's normalisation and threshold: `norm` is the float32 min–max normalised map (all
 * zeros for a constant map), `foreground` the pixels strictly above its mean, `constant` whether
 * the map was constant (NaN in the reference).
 */
export function normaliseAndThreshold(map: ArrayLike<number>): { norm: Float32Array; foreground: Uint8Array; threshold: number; constant: boolean } {
  const n = map.length;
  if (n === 0) throw new Error('segmentation metrics: empty map');
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = Math.fround(map[i]!);
    if (!Number.isFinite(v)) throw new Error(`segmentation metrics: the map has a non-finite value (${v}) at pixel ${i}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const norm = new Float32Array(n);
  const foreground = new Uint8Array(n);
  if (max === min) return { norm, foreground, threshold: NaN, constant: true };
  const range = Math.fround(max - min);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    norm[i] = Math.fround(Math.fround(map[i]!) - min) / range;
    sum += norm[i]!;
  }
  const threshold = Math.fround(sum / n);
  for (let i = 0; i < n; i++) foreground[i] = norm[i]! > threshold ? 1 : 0;
  return { norm, foreground, threshold, constant: false };
}

/**
 * The reference's per-image statistics of a heatmap `map` against a 0/1 `mask` of the same size
 * (row-major; any non-zero mask value counts as foreground).
 */
export function segmentationImageStats(map: ArrayLike<number>, mask: ArrayLike<number>): SegImageStats {
  const n = map.length;
  if (mask.length !== n) throw new Error(`segmentation metrics: the map has ${n} pixels but the mask ${mask.length}`);
  const { norm, foreground, constant } = normaliseAndThreshold(map);
  let correct = 0;
  let fgPred = 0;
  let fgMask = 0;
  let fgBoth = 0;
  for (let i = 0; i < n; i++) {
    const p = foreground[i]!;
    const t = mask[i]! !== 0 ? 1 : 0;
    fgPred += p;
    fgMask += t;
    if (p === t) correct++;
    if (p === 1 && t === 1) fgBoth++;
  }
  const bgBoth = correct - fgBoth;
  const inter: [number, number] = [bgBoth, fgBoth];
  const union: [number, number] = [n - fgPred + (n - fgMask) - bgBoth, fgPred + fgMask - fgBoth];

  // Two channels flattened: background channel scored 1 − map, foreground channel scored map.
  // A constant map: both channels score 0 (the reference's NaN → 0).
  const scores = new Float32Array(2 * n);
  const labels = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    const t = mask[i]! !== 0 ? 1 : 0;
    scores[i] = constant ? 0 : 1 - norm[i]!;
    labels[i] = 1 - t;
    scores[n + i] = constant ? 0 : norm[i]!;
    labels[n + i] = t;
  }
  return { correct, labeled: n, inter, union, ap: averagePrecision(scores, labels) };
}

/**
 * scikit-learn's `average_precision_score` for binary labels: Σ_k (R_k − R_{k−1}) P_k over the
 * distinct score thresholds in decreasing order (ties share one threshold), then numpy's
 * `nan_to_num`, so no positive label gives 0. Scores are compared as float32, as the reference
 * passes float32 arrays.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`averagePrecision: ${n} scores but ${labels.length} labels`);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (labels[i]! !== 0) nPos++;
  if (nPos === 0) return 0;
  const pos = new Float32Array(nPos);
  const neg = new Float32Array(n - nPos);
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    const s = scores[i]!;
    if (Number.isNaN(s)) throw new Error(`averagePrecision: score ${i} is NaN`);
    if (labels[i]! !== 0) pos[a++] = s;
    else neg[b++] = s;
  }
  pos.sort();
  neg.sort();
  // Walk both sorted lists from the top, one distinct value at a time.
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? pos[i]! : -Infinity, j >= 0 ? neg[j]! : -Infinity);
    while (i >= 0 && pos[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === v) {
      fp++;
      j--;
    }
    const recall = tp / nPos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

/** Sums/averages per-image statistics as the reference does (see the module comment). */
export function summariseSegmentation(stats: Iterable<SegImageStats>): SegSummary {
  let correct = 0;
  let labeled = 0;
  const inter = [0, 0];
  const union = [0, 0];
  let apSum = 0;
  let images = 0;
  for (const s of stats) {
    correct += s.correct;
    labeled += s.labeled;
    for (let c = 0; c < 2; c++) {
      inter[c]! += s.inter[c]!;
      union[c]! += s.union[c]!;
    }
    apSum += s.ap;
    images++;
  }
  if (images === 0) throw new Error('segmentation metrics: no images to summarise');
  const iou: [number, number] = [inter[0]! / (EPS + union[0]!), inter[1]! / (EPS + union[1]!)];
  return {
    images,
    pixelAccuracy: correct / (EPS + labeled),
    iou,
    mIoU: (iou[0] + iou[1]) / 2,
    mAP: apSum / images,
  };
}
