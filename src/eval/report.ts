/**
 * Reports of the evaluations: markdown tables for people, JSON for programs, and the one-line
 * summary the proving-ground run prints last.
 */
import { basename, dirname, join, relative } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic-write.js';
import type { ClassificationResult } from './classification.js';
import type { SegmentationResult } from './segmentation.js';

const pct = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '—' : `${(100 * v).toFixed(2)}%`);
const num = (v: number | undefined, digits = 2): string => (v === undefined ? '—' : v.toFixed(digits));
const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The classification tables: accuracy per method, then accuracy against NEC. */
export function classificationMarkdown(r: ClassificationResult): string {
  const lines = [
    `## Classification: top-1 accuracy on the ${r.split} split`,
    '',
    `Data \`${r.data}\`: ${r.classes} classes, ${r.images.train} training / ${r.images.val} validation / ${r.images.eval} ${r.split} images. ` +
      `Backbone \`${basename(r.backbone)}\`. Sparse final layers: GLM-SAGA, elastic net α = 0.99, λ = lam/α = ${(r.lam / 0.99).toExponential(2)}.`,
    '',
    '| method | top-1 | non-zero weights | NEC | concepts | note |',
    '|---|---:|---:|---:|---:|---|',
    ...r.rows.map((x) => `| ${cell(x.label)} | ${pct(x.accuracy)} | ${x.nnz ?? '—'} | ${num(x.nec)} | ${x.concepts ?? '—'} | ${cell(x.note ?? '')} |`),
  ];
  if (r.lfcbm) {
    lines.push('', `LF-CBM: ${r.lfcbm.conceptsKept} of ${r.lfcbm.conceptsGiven} concepts kept by the interpretability cutoff (${r.lfcbm.cutoff}).`);
  }
  if (r.necCurves.length > 0) {
    const targets = r.necCurves[0]!.points.map((p) => p.target);
    lines.push(
      '',
      '### Accuracy against NEC (non-zero weights per class)',
      '',
      'One regularisation path per method; for each target, the path point with NEC closest to it from below (its actual NEC in brackets).',
      '',
      `| NEC | ${r.necCurves.map((c) => cell(c.label)).join(' | ')} |`,
      `|---:|${r.necCurves.map(() => '---:').join('|')}|`,
      ...targets.map((t, i) => `| ${t} | ${r.necCurves.map((c) => `${pct(c.points[i]!.accuracy)} (${num(c.points[i]!.nec, 1)})`).join(' | ')} |`),
    );
  }
  return lines.join('\n') + '\n';
}

/** The segmentation table, and the figure when there is one (linked relative to `markdownPath`). */
export function segmentationMarkdown(r: SegmentationResult, markdownPath?: string): string {
  const lines = [
    '## Zero-shot segmentation (Chefer et al. protocol)',
    '',
    `${r.dataset}: ${r.images} images at ${r.inputSize}×${r.inputSize}. Heatmaps for the predicted class, upsampled bilinearly, ` +
      'min–max normalised per image, foreground above the mean; pixel accuracy and IoU summed over the data set, AP averaged over images.' +
      (r.salfMap
        ? ` SALF-CBM map: ${r.salfMap === 'concept' ? "the predicted class's concept map" : "the predicted class's contribution map Σ_m W_F[l,m]·ĉ_m"}.`
        : '') +
      (r.predictionAgreement !== undefined ? ` SALF-CBM and the backbone predict the same class on ${pct(r.predictionAgreement)} of the images.` : ''),
    '',
    '| method | pixel accuracy | mIoU | mAP | IoU background | IoU foreground |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.methods.map((m) => `| ${cell(m.label)} | ${pct(m.pixelAccuracy)} | ${pct(m.mIoU)} | ${pct(m.mAP)} | ${pct(m.iou[0])} | ${pct(m.iou[1])} |`),
  ];
  if (r.figure) {
    const link = markdownPath ? relative(dirname(markdownPath), r.figure.path) : r.figure.path;
    lines.push('', `![heatmaps](${link.split('\\').join('/')})`, '', `Columns: ${r.figure.columns.join(', ')}. Rows: ${r.figure.images.join(', ')}.`);
  }
  return lines.join('\n') + '\n';
}

/** Writes `<dir>/<name>.json` and `<dir>/<name>.md` atomically; returns their paths. */
export function writeReport(dir: string, name: string, result: unknown, markdown: string): { json: string; markdown: string } {
  const json = join(dir, `${name}.json`);
  const md = join(dir, `${name}.md`);
  writeJsonAtomic(json, result);
  writeFileAtomic(md, markdown);
  return { json, markdown: md };
}

/**
 * The CLIP teacher's segmentation figures, when the evaluation ran the `teacher` method:
 * `teacher pixel_acc_p=<a> miou_p=<b> map_p=<c>` (fractions in [0, 1]), or undefined.
 */
export function teacherSummaryLine(seg: SegmentationResult): string | undefined {
  const t = seg.methods.find((x) => x.method === 'teacher');
  return t && `teacher pixel_acc_p=${t.pixelAccuracy.toFixed(4)} miou_p=${t.mIoU.toFixed(4)} map_p=${t.mAP.toFixed(4)}`;
}

/**
 * The proving run's last line:
 * `eval acc_standard_sparse=<a> acc_lfcbm=<b> acc_salf_sparse=<c> miou_salf=<d> miou_cam=<e> miou_scorecam=<f>`
 * (fractions in [0, 1], 4 decimals; `na` for a method that did not run).
 */
export function provingSummaryLine(cls: ClassificationResult, seg: SegmentationResult): string {
  const acc = (m: string): string => {
    const v = cls.rows.find((r) => r.method === m)?.accuracy;
    return v === undefined ? 'na' : v.toFixed(4);
  };
  const miou = (m: string): string => {
    const v = seg.methods.find((x) => x.method === m)?.mIoU;
    return v === undefined ? 'na' : v.toFixed(4);
  };
  return (
    `eval acc_standard_sparse=${acc('standard-sparse')} acc_lfcbm=${acc('lfcbm')} acc_salf_sparse=${acc('salf-sparse')} ` +
    `miou_salf=${miou('salf')} miou_cam=${miou('cam')} miou_scorecam=${miou('scorecam')}`
  );
}
