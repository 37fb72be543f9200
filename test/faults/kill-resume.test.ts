/**
 * Fault injection, kill -9: a training killed (real SIGKILL of a child process) during feature
 * extraction, prompted embeddings, the concept layer, the final layer or the model save, then
 * rerun, ends with a model whose files hash exactly as an uninterrupted run's; a world generation
 * killed part-way resumes on rerun to the same files. Tiny random-weight models: plumbing only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { generateWorld, type GenerateWorldOptions } from '../../src/proving-ground/dataset.js';
import { trainSalfCbm, type TrainSalfCbmOptions } from '../../src/training/train-salf-cbm.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { writeTinyTrainingInputs } from '../helpers/tiny-training.js';
import type { FaultChildConfig } from './fault-child.js';

const here = fileURLToPath(import.meta.url);
const childScript = join(here, '..', `fault-child${extname(here)}`);

/** Runs the fault child; resolves with its exit signal and output. */
function runChild(config: FaultChildConfig): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const args = extname(here) === '.ts' ? ['--import', 'tsx', childScript] : [childScript];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot(),
    env: { ...process.env, SALF_FAULT_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, output })));
}

/** The hash of the model's manifest, which lists every model file's SHA-256. */
function modelHash(dir: string): string {
  return createHash('sha256')
    .update(readFileSync(join(dir, 'manifest.json')))
    .digest('hex');
}

async function trainingSetup(): Promise<{ root: string; options: (name: string) => TrainSalfCbmOptions }> {
  const root = tempDir('salf-faults-kill-');
  const inputs = await writeTinyTrainingInputs(root);
  const options = (name: string): TrainSalfCbmOptions => ({
    ...inputs,
    concepts: ['red', 'blue', 'green', 'striped', 'round', 'sky'],
    out: join(root, name, 'model'),
    cacheDir: join(root, name, 'cache'),
    grid: [3, 3],
    batchSize: 3,
    shardSize: 2,
    clipBatch: 9,
    cbl: { maxSteps: 20, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 40 },
  });
  return { root, options };
}

test("kill -9 at each training stage, then a rerun, gives the uninterrupted run's model files exactly", async () => {
  const { root, options } = await trainingSetup();
  await trainSalfCbm(options('reference'));
  const reference = modelHash(options('reference').out);

  const stages: { stage: string; at: number }[] = [
    { stage: 'features (train)', at: 2 },
    { stage: 'prompted embeddings', at: 1 },
    { stage: 'concept layer', at: 12 },
    { stage: 'final layer (sparse)', at: 25 },
    { stage: 'save', at: 1 },
  ];
  for (const { stage, at } of stages) {
    const name = stage.replace(/\W+/g, '-');
    const opts = options(name);
    const killed = await runChild({ kind: 'train', options: opts, killStage: stage, killAtUpdate: at });
    assert.equal(killed.signal, 'SIGKILL', `${stage}: the child was killed (${killed.output})`);
    assert.ok(!existsSync(join(opts.out, 'manifest.json')), `${stage}: no model that looks complete was left`);
    if (stage === 'save') {
      assert.ok(existsSync(join(opts.out, 'weights.safetensors')), 'the kill came between the weights and the names');
      assert.throws(() => SalfCbm.load(opts.out), /manifest\.json: missing.*save did not finish/);
    }
    await trainSalfCbm(opts);
    assert.equal(modelHash(opts.out), reference, `${stage}: the resumed model's files equal the uninterrupted run's`);
  }
  rmSync(root, { recursive: true });
});

/** Every file under `dir` (relative path → SHA-256). */
function tree(dir: string, base = dir, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tree(p, base, out);
    else out.set(relative(base, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return out;
}

test("kill -9 during world generation: a rerun resumes and ends with the uninterrupted world's files", async () => {
  const root = tempDir('salf-faults-world-');
  const options = (dir: string): GenerateWorldOptions => ({ seed: 3, size: 48, counts: { train: 8, val: 4, test: 2, shifted: 2 }, outDir: join(root, dir) });
  await generateWorld(options('reference'));
  const killed = await runChild({ kind: 'world', options: options('killed'), killAfter: 6 });
  assert.equal(killed.signal, 'SIGKILL', killed.output);
  assert.ok(!existsSync(join(root, 'killed', 'world.json')), 'the killed folder does not look like a world');
  const written = [...tree(join(root, 'killed')).keys()].filter((f) => f.endsWith('.png') && f.startsWith('images'));
  assert.ok(written.length >= 6 && written.length < 16, `${written.length} images before the kill`);
  // Before: "not empty and holds no world.json; refusing to write a world there", on every rerun.
  await generateWorld(options('killed'));
  assert.deepEqual(tree(join(root, 'killed')), tree(join(root, 'reference')));
  // A rerun with other settings starts over rather than mixing two worlds.
  await runChild({ kind: 'world', options: { ...options('killed'), seed: 4 }, killAfter: 3 });
  const other = await generateWorld({ ...options('killed'), seed: 4 });
  assert.equal(other.seed, 4);
  await generateWorld({ ...options('other'), seed: 4 });
  assert.deepEqual(tree(join(root, 'killed')), tree(join(root, 'other')));
  rmSync(root, { recursive: true });
});
