/**
 * Scale benchmark (issue 11): the training stages that touch every image, on synthetic on-disk
 * stores at ResNet-50 dimensions (D 2048, 7×7 grid, M 370 concepts, L 200 classes, CLIP E 512),
 * for a small and a large number of images, each in its own child process so that its peak
 * resident memory (`process.resourceUsage().maxRSS`) is measured alone. Both sizes run the same
 * streamed code paths with the same memory budget:
 *
 * 1. pooled activations: C = F·W_cᵀ and mean pooling, in chunks, into an activations store
 *    (activations.ts), all N images;
 * 2. standardisation: mean/std fitted from the activations store (training rows);
 * 3. concept layer: `--cbl-steps` Adam steps with the whole training split as the batch (LF-CBM's
 *    case for N ≤ 50,000), streamed from the feature and embedding stores (`streaming: 'always'`),
 *    plus its validation pass;
 * 4. final layer: GLM-SAGA streamed (`streaming: 'always'`): λ_max in a pass, `--glm-epochs` epochs
 *    (one per λ of a path) and the train/validation evaluations.
 *
 * The stores (features float16 [49, 2048], prompted embeddings float16 [49, 512] normalised,
 * random labels) are written by this process before each child starts, from one random shard
 * rotated per shard (cheap), in a temporary folder under `<repo>/.scratch-scale/` (or `--dir`),
 * deleted at the end, on failure and on Ctrl-C. Split: the last 10% of the images are validation.
 * Time per image = stage time / images the stage touched.
 *
 * Usage: node dist/bench/scale.js [--n-small=2000] [--n-large=48000] [--memory-budget=2GiB]
 *          [--cbl-steps=1] [--glm-epochs=2] [--d=2048] [--dir=<folder>] [--keep]
 * Last line: scale n_small=<a> n_large=<b> features_gib=<g> rss_ratio=<peak RSS large / small>
 *            per_image_time_ratio=<time per image, large / small>
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Engine } from '../src/engine/session.js';
import { packageRoot } from '../src/package-root.js';
import { Rng } from '../src/rng.js';
import { toFloat16Bits } from '../src/store/float16.js';
import { RowStore, type RowStoreSpec } from '../src/store/row-store.js';
import { ACTIVATIONS_FIELD, poolActivationsToStore } from '../src/training/activations.js';
import { glmSaga } from '../src/training/glm-saga.js';
import { availableBytes, formatBytes, parseMemoryBudget } from '../src/training/memory-budget.js';
import { storeMatrix } from '../src/training/row-matrix.js';
import { fitStandardiserStreamed, standardisedMatrix } from '../src/training/standardise.js';
import { storeSource } from '../src/training/store-source.js';
import { trainConceptLayer } from '../src/training/train-cbl.js';
import { normaliseRows, uniform } from './random-fill.js';

const G = 49;
const E = 512;
const M = 370;
const L = 200;
const SHARD = 64;
const SEED = 7;

interface Config {
  dir: string;
  n: number;
  D: number;
  budget: number;
  cblSteps: number;
  glmEpochs: number;
}

interface StageResult {
  stage: string;
  rows: number;
  seconds: number;
  /** CPU time (user + system) of the process during the stage. */
  cpuSeconds: number;
  rssMiB: number;
}

function stageLine(n: number, s: StageResult): string {
  const ms = (t: number): string => ((t / s.rows) * 1e3).toFixed(3);
  return `N ${n}: ${s.stage.padEnd(13)} ${s.seconds.toFixed(2).padStart(8)} s  ${ms(s.seconds)} ms/image (cpu ${ms(s.cpuSeconds)} ms/image)  rss after ${s.rssMiB.toFixed(0)} MiB`;
}

interface ChildResult {
  n: number;
  stages: StageResult[];
  maxRssMiB: number;
}

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

function intArg(name: string, def: number): number {
  const v = arg(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got ${v}`);
  return n;
}

function specs(c: Config): { features: RowStoreSpec; prompted: RowStoreSpec } {
  const identity = { synthetic: 'bench/scale', n: c.n, D: c.D, seed: SEED };
  return {
    features: { kind: 'features', identity, numRows: c.n, shardSize: SHARD, fields: [{ name: 'F', shape: [G, c.D], dtype: 'float16' }] },
    prompted: { kind: 'prompted', identity, numRows: c.n, shardSize: SHARD, fields: [{ name: 'I', shape: [G, E], dtype: 'float16' }] },
  };
}

/** Bytes the stores of n images take on disk (payload; headers are a few hundred bytes a shard). */
function storeBytes(n: number, D: number): number {
  return n * (G * D * 2 + G * E * 2 + M * 4);
}

/** `base` rotated left by `by` values, into `out` (same length). */
function rotate(base: Uint16Array, by: number, out: Uint16Array): Uint16Array {
  const k = by % base.length;
  out.set(base.subarray(k), 0);
  out.set(base.subarray(0, k), base.length - k);
  return out;
}

/** Writes the synthetic feature and embedding stores of `c.n` images. */
function buildStores(c: Config): void {
  const s = specs(c);
  const features = RowStore.open(c.dir, s.features);
  const prompted = RowStore.open(c.dir, s.prompted);
  // ReLU-like features in [0, 2); embeddings normalised per grid position. One shard's worth,
  // rotated by a whole number of rows (resp. vectors) per shard.
  const baseF = toFloat16Bits(uniform(SHARD * G * c.D, 1, 0, 2));
  const baseI = toFloat16Bits(normaliseRows(uniform(SHARD * G * E, 2, -1, 1), E));
  const bufF = new Uint16Array(baseF.length);
  const bufI = new Uint16Array(baseI.length);
  for (let sh = 0; sh < features.numShards; sh++) {
    const { count } = features.shardRange(sh);
    const rot = (sh * 7919) % (SHARD * G);
    features.writeShard(sh, { F: rotate(baseF, rot * c.D, bufF).subarray(0, count * G * c.D) });
    prompted.writeShard(sh, { I: rotate(baseI, rot * E, bufI).subarray(0, count * G * E) });
  }
}

/** Labels: a fixed pseudo-random class per image. */
function labels(n: number): Int32Array {
  const rng = new Rng(SEED + 1);
  return Int32Array.from({ length: n }, () => rng.int(L));
}

/** The child: runs the stages on the stores in c.dir and reports. */
async function child(c: Config): Promise<ChildResult> {
  const s = specs(c);
  const features = RowStore.open(c.dir, s.features);
  const prompted = RowStore.open(c.dir, s.prompted);
  const { D, n } = c;
  const nVal = Math.max(2, Math.floor(n / 10));
  const nTrain = n - nVal;
  const trainRows = Array.from({ length: nTrain }, (_, i) => i);
  const valRows = Array.from({ length: nVal }, (_, i) => nTrain + i);
  const y = labels(n);
  const rng = new Rng(SEED);
  const Wc = Float32Array.from({ length: M * D }, () => rng.normal() / Math.sqrt(D));
  const T = toFloat32Normalised(rng, M, E);
  const engine = new Engine();
  const stages: StageResult[] = [];
  const timed = async <R>(stage: string, rows: number, run: () => Promise<R> | R): Promise<R> => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await run();
    const cpu = process.cpuUsage(c0);
    const s: StageResult = {
      stage,
      rows,
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
    stages.push(s);
    console.log(stageLine(n, s));
    return r;
  };

  const act = await timed('activations', n, () =>
    poolActivationsToStore({ features, field: 'F', conceptWeight: Wc, M, pooling: 'mean', outRoot: c.dir, memoryBudget: c.budget, engine }),
  );
  const st = await timed('standardise', nTrain, () => fitStandardiserStreamed(storeMatrix(act, ACTIVATIONS_FIELD, trainRows)));
  await timed('concept-layer', n, () =>
    trainConceptLayer({
      train: storeSource({ store: features, field: 'F', rows: trainRows }, { store: prompted, field: 'I', rows: trainRows }),
      val: storeSource({ store: features, field: 'F', rows: valRows }, { store: prompted, field: 'I', rows: valRows }),
      T,
      M,
      G,
      D,
      E,
      maxSteps: c.cblSteps,
      valEvery: 1000,
      stepSamples: 50000,
      streaming: 'always',
      memoryBudgetBytes: availableBytes(c.budget),
      seed: SEED,
      engine,
    }),
  );
  await timed('final-layer', n, () =>
    glmSaga({
      X: standardisedMatrix(storeMatrix(act, ACTIVATIONS_FIELD, trainRows), st),
      y: y.slice(0, nTrain),
      val: { X: standardisedMatrix(storeMatrix(act, ACTIVATIONS_FIELD, valRows), st), y: y.slice(nTrain) },
      nClasses: L,
      k: c.glmEpochs,
      epsilon: 0.05,
      doZero: false,
      epochsPerLambda: 1,
      lookbehind: 1000, // no early stop: every λ runs its epoch
      streaming: 'always',
      memoryBudget: c.budget,
      seed: SEED,
      engine,
    }),
  );
  await engine.dispose();
  return { n, stages, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

function toFloat32Normalised(rng: Rng, rows: number, len: number): Float32Array {
  return normaliseRows(
    Float32Array.from({ length: rows * len }, () => rng.normal()),
    len,
  );
}

function runChild(c: Config): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const p = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(c)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: ChildResult | undefined;
    p.on('message', (m) => (result = m as ChildResult));
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (result && code === 0) resolvePromise(result);
      else reject(new Error(`bench/scale: the run for N = ${c.n} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

function perImage(r: ChildResult, cpu = false): number {
  return r.stages.reduce((a, s) => a + (cpu ? s.cpuSeconds : s.seconds) / s.rows, 0);
}

async function main(): Promise<void> {
  const nSmall = intArg('n-small', 2000);
  const nLarge = intArg('n-large', 48000);
  const D = intArg('d', 2048);
  const budget = parseMemoryBudget(arg('memory-budget') ?? '2GiB');
  const cblSteps = intArg('cbl-steps', 1);
  const glmEpochs = intArg('glm-epochs', 2);
  const keep = process.argv.includes('--keep');
  const root = resolve(arg('dir') ?? join(packageRoot(), '.scratch-scale'));
  mkdirSync(root, { recursive: true });
  const need = storeBytes(nLarge, D) + 2 ** 30;
  const st = statfsSync(root);
  const free = st.bavail * st.bsize;
  if (free < need)
    throw new Error(
      `${root}: ${formatBytes(free)} free, the stores of ${nLarge} images need ${formatBytes(need)} (give --dir elsewhere or a smaller --n-large)`,
    );
  const run = mkdtempSync(join(root, 'run-'));
  const cleanup = (): void => {
    if (!keep) rmSync(run, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

  const featureElements = nLarge * G * D;
  const featuresGiB = (featureElements * 2) / 2 ** 30;
  console.log(
    `bench/scale: G ${G}, D ${D}, M ${M}, L ${L}, E ${E}; memory budget ${formatBytes(budget)}; ${cblSteps} concept-layer step(s), ${glmEpochs} GLM-SAGA epoch(s); stores under ${run}`,
  );
  console.log(
    `large features: ${featureElements.toLocaleString('en')} elements (${featureElements > 2 ** 32 ? '>' : '≤'} 2^32), ${featuresGiB.toFixed(2)} GiB float16`,
  );
  const results: ChildResult[] = [];
  try {
    for (const n of [nSmall, nLarge]) {
      const c: Config = { dir: join(run, `n${n}`), n, D, budget, cblSteps, glmEpochs };
      const t0 = performance.now();
      buildStores(c);
      console.log(`N ${n}: stores written (${formatBytes(storeBytes(n, D) - n * M * 4)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const r = await runChild(c);
      console.log(`N ${n}: peak RSS ${r.maxRssMiB.toFixed(0)} MiB (budget ${formatBytes(budget)}), ${(perImage(r) * 1e3).toFixed(3)} ms/image over the stages`);
      results.push(r);
      if (!keep) rmSync(c.dir, { recursive: true, force: true });
    }
  } finally {
    cleanup();
  }
  const [small, large] = results as [ChildResult, ChildResult];
  for (let i = 0; i < small.stages.length; i++) {
    const a = small.stages[i]!;
    const b = large.stages[i]!;
    console.log(
      `stage ${a.stage}: per-image time large/small ${(b.seconds / b.rows / (a.seconds / a.rows)).toFixed(3)} (cpu time ${(b.cpuSeconds / b.rows / (a.cpuSeconds / a.rows)).toFixed(3)})`,
    );
  }
  // Wall time is what the target is on; CPU time is shown too because other processes on the
  // machine slow the wall clock of one size and not the other.
  console.log(`per-image cpu time large/small ${(perImage(large, true) / perImage(small, true)).toFixed(3)}`);
  console.log(
    `scale n_small=${nSmall} n_large=${nLarge} features_gib=${featuresGiB.toFixed(2)} rss_ratio=${(large.maxRssMiB / small.maxRssMiB).toFixed(3)} per_image_time_ratio=${(perImage(large) / perImage(small)).toFixed(3)}`,
  );
}

if (process.argv.includes('--child')) {
  const c = JSON.parse(process.argv[process.argv.indexOf('--child') + 1]!) as Config;
  child(c).then(
    (r) => process.send!(r, () => process.exit(0)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
