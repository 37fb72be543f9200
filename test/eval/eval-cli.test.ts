/**
 * `salf-cbm eval classification` and `salf-cbm eval segmentation` end to end in a child process
 * on the tiny trained model: markdown on stdout, JSON and markdown files (and the figure) on disk,
 * and a clear error for a wrong invocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/run-cli.js';
import { fixturePath } from '../helpers/paths.js';
import { trainTinySalf } from './tiny-model.js';

const setup = trainTinySalf();

test('eval classification writes the tables (markdown and JSON)', async () => {
  const s = await setup;
  const out = join(s.root, 'cli-cls');
  const r = runCli([
    'eval',
    'classification',
    '--model',
    s.modelDir,
    '--data',
    s.data,
    '--split-file',
    s.splitFile,
    '--out',
    out,
    '--epochs',
    '50',
    '--nec',
    '1,2',
    '--path-length',
    '4',
    '--path-epochs',
    '20',
    '--lfcbm-steps',
    '10',
    '--lfcbm-cutoff',
    '-1',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| SALF-CBM, sparse \| \d+\.\d\d% \|/);
  assert.match(r.stdout, /\| NEC \| standard, sparse \| LF-CBM, sparse \| SALF-CBM, sparse \|/);
  const json = JSON.parse(readFileSync(join(out, 'classification.json'), 'utf8'));
  assert.equal(json.rows.length, 5);
  assert.ok(existsSync(join(out, 'classification.md')));
});

test('eval segmentation writes the table, JSON and the figure; wrong use fails clearly', async () => {
  const s = await setup;
  const out = join(s.root, 'cli-seg');
  const r = runCli(['eval', 'segmentation', '--model', s.modelDir, '--imagenet-seg', fixturePath('gtsegs-mini.mat'), '--out', out, '--figure-count', '2']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| Score-CAM \| \d+\.\d\d% \|/);
  assert.match(r.stdout, /!\[heatmaps\]\(segmentation-figure\.png\)/);
  const json = JSON.parse(readFileSync(join(out, 'segmentation.json'), 'utf8'));
  assert.deepEqual(
    json.methods.map((m: { method: string }) => m.method),
    ['salf', 'cam', 'scorecam'],
  );
  assert.ok(existsSync(join(out, 'segmentation-figure.png')));

  const bad = runCli(['eval', 'segmentation', '--model', s.modelDir, '--out', out]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /give exactly one data set: --imagenet-seg/);
});
