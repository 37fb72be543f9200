import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';
import { writeColourDataset } from '../helpers/colour-dataset.js';
import { tempDir } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

test('help lists the commands and explains every train option with its default', () => {
  const top = runCli(['--help']);
  assert.equal(top.status, 0);
  for (const c of ['train', 'predict', 'tensors']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  const train = runCli(['train', '--help']);
  assert.equal(train.status, 0);
  const help = train.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--grid <HxW>.*\(default: \[7,7\]\)/);
  assert.match(help, /--cutoff <x>.*\(default: 0\.45\)/);
  assert.match(help, /--pooling <mode>.*\(default: "mean"\)/);
});

test('missing or bad options give a clear error and a non-zero exit', () => {
  const r = runCli(['train', '--data', 'x']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /required option/);
  const g = runCli(['train', '--data', 'x', '--clip', 'c', '--concepts', 'c.txt', '--out', 'o', '--grid', '7y7']);
  assert.notEqual(g.status, 0);
  assert.match(g.stderr, /expected a grid such as 7x7/);
});

test('tensors, train and predict run from the command line on tiny random models', () => {
  const root = tempDir('salf-cli-');
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  const listed = runCli(['tensors', cnn.path]);
  assert.equal(listed.status, 0);
  assert.match(listed.stdout, new RegExp(`\\t${cnn.featureTensor}\\n`));
  return (async () => {
    await writeColourDataset(join(root, 'data'), 6);
    await writeTinyClip(join(root, 'clip'), { inputSize: 64 });
    writeFileSync(join(root, 'concepts.txt'), 'red\nblue\nsky\n');
    const model = join(root, 'model');
    const train = runCli([
      'train',
      '--data',
      join(root, 'data'),
      '--clip',
      join(root, 'clip'),
      '--concepts',
      join(root, 'concepts.txt'),
      '--out',
      model,
      '--backbone',
      cnn.path,
      '--feature-tensor',
      cnn.featureTensor,
      '--input-size',
      '64',
      '--crop',
      'stretch',
      '--grid',
      '2x2',
      '--steps',
      '10',
      '--val-every',
      '5',
      '--cutoff',
      '-1',
      '--epochs',
      '20',
      '--val-fraction',
      '0.34',
    ]);
    assert.equal(train.status, 0, train.stderr);
    assert.match(train.stdout, /model written to/);
    const img = join(root, 'data', 'bluish', '0.png');
    const pred = runCli(['predict', '--model', model, '--json', img]);
    assert.equal(pred.status, 0, pred.stderr);
    const out = JSON.parse(pred.stdout);
    assert.equal(out.results[0].path, img);
    assert.ok(['bluish', 'reddish'].includes(out.results[0].prediction));
    const total = out.results[0].top.reduce((a: number, t: { probability: number }) => a + t.probability, 0);
    assert.ok(Math.abs(total - 1) < 1e-5);
    const bad = runCli(['predict', '--model', model, join(root, 'missing.png')]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /missing\.png/);
  })();
});
