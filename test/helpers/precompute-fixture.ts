/**
 * A tiny pre-computation job for the precompute/status tests: a colour dataset (16 images: 12
 * train, 4 val), a tiny CNN with logits and a tiny CLIP, the CLI arguments that name them, and
 * helpers to run `salf-cbm precompute` workers as child processes with a scheduler's variables.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PrecomputeInputs } from '../../src/training/precompute.js';
import { writeColourDataset } from './colour-dataset.js';
import { repoRoot, tempDir } from './paths.js';
import { writeTinyCnn } from './tiny-backbones.js';
import { writeTinyClip } from './tiny-clip.js';

export interface PrecomputeFixture {
  root: string;
  /** The data, model and store options (no --cache-dir). */
  args: string[];
  /** The same as library inputs, for a cache folder. */
  inputs: (cacheDir: string) => PrecomputeInputs;
}

export async function precomputeFixture(): Promise<PrecomputeFixture> {
  const root = tempDir('salf-precompute-');
  await writeColourDataset(join(root, 'data'), 8);
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  await writeTinyClip(join(root, 'clip'), { inputSize: 64 });
  const args = [
    '--data',
    join(root, 'data'),
    '--clip',
    join(root, 'clip'),
    '--val-fraction',
    '0.25',
    '--backbone',
    cnn.path,
    '--feature-tensor',
    cnn.featureTensor,
    '--logits-tensor',
    cnn.logitsTensor,
    '--input-size',
    '64',
    '--crop',
    'stretch',
    '--mean',
    '0.5,0.5,0.5',
    '--std',
    '0.25,0.25,0.25',
    '--grid',
    '3x3',
    '--shard-size',
    '2',
    '--batch-size',
    '3',
  ];
  const inputs = (cacheDir: string): PrecomputeInputs => ({
    data: join(root, 'data'),
    clip: join(root, 'clip'),
    valFraction: 0.25,
    seed: 0,
    backbone: {
      model: cnn.path,
      featureTensor: cnn.featureTensor,
      logitsTensor: cnn.logitsTensor,
      layout: 'nchw',
      preprocess: { resize: { size: 64, mode: 'stretch' }, interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    },
    cacheDir,
    grid: [3, 3],
    placement: 'inside',
    batchSize: 3,
    featureDtype: 'float16',
    shardSize: 2,
  });
  return { root, args, inputs };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (tsx from src/, or dist/ when compiled) with `env` added to a clean environment. */
export function runCliAsync(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  const entry = compiled ? join(repoRoot(), 'dist', 'src', 'cli', 'main.js') : join(repoRoot(), 'src', 'cli', 'main.ts');
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SLURM_|JOB_COMPLETION_INDEX|SALF_CBM_SHARD_COUNT)/.test(k))) as Record<
    string,
    string
  >;
  const child = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), entry, ...args], {
    cwd: repoRoot(),
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Every file of every store folder under `cacheDir` (name → bytes), job records left out. */
export function storeFiles(cacheDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const dir of readdirSync(cacheDir)
    .filter((d) => d !== 'jobs')
    .sort()) {
    const full = join(cacheDir, dir);
    if (!existsSync(join(full, 'manifest.json'))) continue;
    for (const f of readdirSync(full).sort()) out.set(`${dir}/${f}`, readFileSync(join(full, f)));
  }
  return out;
}
