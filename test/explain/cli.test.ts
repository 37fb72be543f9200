/** The explanation commands from the command line, on the hand-set colour model saved as a directory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFramePngs } from '../../src/explain/video.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/paths.js';
import { BLUE, GREEN, RED, colourModel, scene, writeScene } from './colour-model.js';

const root = tempDir('salf-explain-cli-');
const modelDir = join(root, 'model');
colourModel(root).save(modelDir);
const image = await writeScene(join(root, 'scene.png'), 96, 64, BLUE, [
  { rect: [8, 8, 40, 56], colour: RED },
  { rect: [60, 20, 90, 50], colour: GREEN },
]);

function ok(args: string[]): string {
  const r = runCli(args);
  assert.equal(r.status, 0, `salf-cbm ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

function fails(args: string[], message: RegExp): void {
  const r = runCli(args);
  assert.notEqual(r.status, 0, `salf-cbm ${args.join(' ')} should fail`);
  assert.match(r.stderr, message);
}

test('explain prints JSON and writes the pictures; rules writes Sankey diagrams', () => {
  const out = join(root, 'explain');
  const json = JSON.parse(ok(['explain', '--model', modelDir, '--class', 'reddish', '--class', 'bluish', '--top', '3', '--out', out, '--json', image]));
  const r = json.results[0];
  assert.equal(r.image, image);
  assert.deepEqual(
    r.explanations.map((e: { class: string }) => e.class),
    ['reddish', 'bluish'],
  );
  assert.equal(r.explanations[0].heatmaps.length, r.explanations[0].contributions.length);
  for (const f of ['explanation.json', 'heatmaps-reddish.png', 'contributions-bluish.svg', 'contributions-bluish.png'])
    assert.ok(existsSync(join(out, 'scene', f)), f);

  const rules = join(root, 'rules');
  const text = ok(['rules', '--model', modelDir, '--out', rules]);
  assert.match(text, /reddish: logit = 0\.1000 \+ 2\.0000·ĉ\[red\] − 1\.0000·ĉ\[blue\]/);
  for (const f of ['rules.json', 'rules-reddish.svg', 'rules-greenish.png', 'rules.svg', 'rules.png']) assert.ok(existsSync(join(rules, f)), f);
  fails(['explain', '--model', modelDir, '--class', 'redish', image], /unknown class "redish"; did you mean "reddish"/);
});

test('explain-region and intervene from the command line, with their bad inputs', () => {
  const regions = JSON.parse(
    ok([
      'explain-region',
      '--model',
      modelDir,
      '--region',
      'box:8,8,40,56',
      '--region',
      'point:75,35',
      '--radius',
      '10',
      '--top',
      '2',
      '--out',
      join(root, 'regions'),
      '--json',
      image,
    ]),
  );
  assert.equal(regions.regions[0].byStandardised[0].concept, 'red');
  assert.equal(regions.regions[1].byStandardised[0].concept, 'green');
  assert.ok(existsSync(join(root, 'regions', 'region-1.png')));
  fails(['explain-region', '--model', modelDir, '--region', 'box:200,10,240,40', image], /region box:200,10,240,40: lies outside the image \(96×64\)/);

  const res = JSON.parse(ok(['intervene', '--model', modelDir, '--edit', 'blue=4@box:8,8,40,56', '--out', join(root, 'intervene'), '--json', image]));
  assert.equal(res.edits[0].concept, 'blue');
  const bluish = res.logits.find((l: { class: string }) => l.class === 'bluish');
  const reddish = res.logits.find((l: { class: string }) => l.class === 'reddish');
  assert.ok(bluish.delta > 0 && reddish.delta < 0);
  assert.ok(existsSync(join(root, 'intervene', 'intervention.png')));
  fails(['intervene', '--model', modelDir, '--edit', 'blue@box:1,1,5,5', image], /edit "blue@box:1,1,5,5": expected <concept>=<beta>\[@<region>\]/);
  fails(['intervene', '--model', modelDir, '--edit', 'purple=1', image], /unknown concept "purple"/);
});

test('video over a frames folder, export to one ONNX file, and explanations from that file', async () => {
  const frames = join(root, 'frames');
  await writeFramePngs(
    frames,
    [0, 1, 2].map((k) => ({ data: scene(64, 64, BLUE, [{ rect: [20 * k, 16, 20 * k + 20, 48], colour: RED }]), width: 64, height: 64 })),
  );
  const video = ok(['video', '--model', modelDir, '--concept', 'red', '--out', join(root, 'video'), '--view-size', '64', frames]);
  assert.match(video, /frame 2\tbluish/);
  assert.ok(existsSync(join(root, 'video', 'heatmap-red.gif')));

  const onnx = join(root, 'colour.onnx');
  const exp = ok(['export', '--model', modelDir, '--out', onnx]);
  assert.match(exp, /check on random inputs: largest difference from the library's forward pass \d/);
  assert.ok(existsSync(join(root, 'colour.json')));
  const a = JSON.parse(ok(['explain', '--model', modelDir, '--json', image]));
  const b = JSON.parse(ok(['explain', '--model', onnx, '--json', image]));
  assert.equal(b.results[0].prediction.class, a.results[0].prediction.class);
  assert.ok(Math.abs(b.results[0].prediction.probability - a.results[0].prediction.probability) < 1e-5);

  const notOnnx = join(root, 'notes.onnx');
  writeFileSync(notOnnx, 'hello');
  fails(['explain', '--model', notOnnx, image], /notes\.onnx: not an ONNX model/);
  fails(['export', '--model', join(root, 'frames'), '--out', join(root, 'x.onnx')], /not a SALF-CBM model directory/);
});
