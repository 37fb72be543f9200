/**
 * The segmentation metrics against golden values from tools/golden_seg_metrics.py (a NumPy
 * transcription of the reference evaluation with scikit-learn's average_precision_score),
 * including constant maps, empty and full masks and tied scores; plus hand-checked cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  averagePrecision,
  normaliseAndThreshold,
  segmentationImageStats,
  summariseSegmentation,
  type SegImageStats,
} from '../../src/eval/segmentation-metrics.js';
import { fixturePath } from '../helpers/paths.js';

interface Golden {
  cases: { name: string; map: number[]; mask: number[]; expected: SegImageStats }[];
  summary: { pixelAccuracy: number; iou: [number, number]; mIoU: number; mAP: number; images: number };
  apCases: { name: string; scores: number[]; labels: number[]; ap: number }[];
}

const golden = JSON.parse(readFileSync(fixturePath('seg-metrics-golden.json'), 'utf8')) as Golden;
const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-6, `${what}: ${a} vs ${b}`);

test('per-image counts and AP match the reference logic (golden), edge cases included', () => {
  assert.ok(golden.cases.some((c) => c.name === 'constant-map') && golden.cases.some((c) => c.name === 'empty-mask'));
  for (const c of golden.cases) {
    const got = segmentationImageStats(Float32Array.from(c.map), Uint8Array.from(c.mask));
    assert.equal(got.correct, c.expected.correct, `${c.name}: correct`);
    assert.equal(got.labeled, c.expected.labeled, `${c.name}: labeled`);
    assert.deepEqual(got.inter, c.expected.inter, `${c.name}: intersection`);
    assert.deepEqual(got.union, c.expected.union, `${c.name}: union`);
    close(got.ap, c.expected.ap, `${c.name}: AP`);
  }
});

test('data-set pixel accuracy, IoU, mIoU and mAP match the golden summary', () => {
  const stats = golden.cases.map((c) => segmentationImageStats(Float32Array.from(c.map), Uint8Array.from(c.mask)));
  const s = summariseSegmentation(stats);
  assert.equal(s.images, golden.summary.images);
  close(s.pixelAccuracy, golden.summary.pixelAccuracy, 'pixel accuracy');
  close(s.iou[0], golden.summary.iou[0], 'IoU background');
  close(s.iou[1], golden.summary.iou[1], 'IoU foreground');
  close(s.mIoU, golden.summary.mIoU, 'mIoU');
  close(s.mAP, golden.summary.mAP, 'mAP');
});

test('average precision matches scikit-learn on its own (ties, all positive, no positive)', () => {
  for (const c of golden.apCases) close(averagePrecision(Float32Array.from(c.scores), Uint8Array.from(c.labels)), c.ap, c.name);
});

test('hand-checked: threshold strictly above the mean, a perfect map, a constant map', () => {
  const t = normaliseAndThreshold([0, 1, 2, 3]);
  assert.deepEqual(Array.from(t.norm), [0, 1 / 3, 2 / 3, 1].map(Math.fround));
  assert.deepEqual(Array.from(t.foreground), [0, 0, 1, 1]);
  const perfect = segmentationImageStats([0, 0, 5, 5], [0, 0, 1, 1]);
  assert.deepEqual(perfect, { correct: 4, labeled: 4, inter: [2, 2], union: [2, 2], ap: 1 });
  const flat = segmentationImageStats([2, 2, 2, 2], [0, 1, 1, 1]);
  assert.deepEqual(flat, { correct: 1, labeled: 4, inter: [1, 0], union: [4, 3], ap: 0.5 });
  assert.throws(() => segmentationImageStats([0, NaN], [0, 1]), /non-finite/);
  assert.throws(() => segmentationImageStats([0, 1], [0, 1, 1]), /2 pixels but the mask 3/);
});
