import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendStage,
  conceptReport,
  conceptReportFromCutoff,
  formatConceptReport,
  interpretabilityStage,
  parseConceptReport,
} from '../../src/concepts/report.js';
import type { CutoffReport } from '../../src/training/train-cbl.js';

const cutoff: CutoffReport = {
  cutoff: 0.45,
  similarity: Float32Array.from([0.8, 0.45, 0.1, 0.5]),
  kept: [0, 3],
  dropped: [
    { index: 1, similarity: 0.45 },
    { index: 2, similarity: 0.1 },
  ],
};
const names = ['red wing', 'blue sky', 'round wheel', 'striped tail'];

test('the interpretability cutoff reads like the step-1 filters', () => {
  const r = conceptReportFromCutoff(cutoff, names);
  assert.equal(r.format, 'salf-cbm/concept-report');
  assert.equal(r.given, 4);
  assert.deepEqual(r.kept, ['red wing', 'striped tail']);
  assert.equal(r.stages.length, 1);
  const s = r.stages[0]!;
  assert.equal(s.stage, 'interpretability');
  assert.equal(s.threshold, 0.45);
  assert.equal(s.input, 4);
  assert.deepEqual(s.dropped, [
    { concept: 'blue sky', value: 0.45 },
    { concept: 'round wheel', value: 0.1 },
  ]);
  const text = formatConceptReport(r);
  assert.match(text, /^concepts: 4 given, 2 kept\n/);
  assert.match(text, /interpretability: 2 of 4 dropped \(dropped when the validation similarity is not above 0\.45; validation similarity/);
  assert.match(text, / {2}- "round wheel": 0\.100\n/);
  assert.deepEqual(parseConceptReport(JSON.parse(JSON.stringify(r)), 'r.json'), r);
  assert.throws(() => parseConceptReport({ format: 'x' }, 'r.json'), /r\.json: not a salf-cbm concept report/);
  assert.throws(() => interpretabilityStage(cutoff, names.slice(0, 3)), /4 similarities for 3 concepts/);
});

test('the cutoff stage appends to a filter report', () => {
  const base = conceptReport(6, names, [
    { stage: 'length', rule: 'r', threshold: 30, measure: 'characters', input: 6, dropped: [{ concept: 'x'.repeat(31), value: 31 }] },
    { stage: 'absent-from-data', rule: 'r', threshold: 0.25, measure: 'm', input: 5, dropped: [], skipped: 'no training images given' },
  ]);
  const all = appendStage(base, interpretabilityStage(cutoff, names), ['red wing', 'striped tail']);
  assert.deepEqual(
    all.stages.map((s) => s.stage),
    ['length', 'absent-from-data', 'interpretability'],
  );
  assert.equal(all.given, 6);
  assert.deepEqual(all.kept, ['red wing', 'striped tail']);
  const text = formatConceptReport(all);
  assert.match(text, /length: 1 of 6 dropped/);
  assert.match(text, /absent-from-data: skipped \(no training images given\)/);
  assert.match(text, / {2}- "x{31}": 31\n/);
});
