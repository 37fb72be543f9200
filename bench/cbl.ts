/**
 * Benchmark of one concept-bottleneck-layer training step at a realistic size (SPEC step 3):
 * N = 2,000 images, 7×7 grid, D = 512, M = 370, E = 512, the whole set as the batch (LF-CBM's
 * case for N ≤ 50,000), against a bare ONNX Runtime MatMul with the same FLOPs in the same run.
 *
 * Usage: node dist/bench/cbl.js [--n=2000] [--reps=5] [--threads=K] [--chunks=a,b,...] [--raw] [--stream]
 *          [--device=cpu|cuda]   (the execution provider of every graph; scripts/gpu-bench.sh)
 *   --chunks: grid chunk sizes to time (default: the automatic one and the whole grid).
 *   --raw also times the one-graph step that recomputes the CLIP side every step.
 *   --stream also times the streamed step (the same data as a row source, as training runs it
 *     with streaming: 'always' and the default memory budget; see cbl-stream.ts) and prints its
 *     line before the last: x counts the prepared step's GEMM FLOPs (so x/y compares the two
 *     steps' times directly); its own GEMMs are 2.5× those at E = D (C and P in both passes).
 * Last line: cbl_step_gflops=<x> matmul_gflops=<y> ratio=<x/y>, x = (GEMM FLOPs of one step)/(step time).
 */
import { performance } from 'node:perf_hooks';
import { GraphBuilder } from '../src/engine/onnx-builder.js';
import { Engine, f32, type Device } from '../src/engine/session.js';
import { Adam } from '../src/training/adam.js';
import { cblLossAndGrad, defaultGridChunk, PreparedCblData } from '../src/training/cbl-graph.js';
import { Rng } from '../src/rng.js';
import { arraySource } from '../src/training/cbl-source.js';
import { StreamedCblBatch, streamChunkRows } from '../src/training/cbl-stream.js';
import { defaultCblMemoryBytes, initConceptLayer } from '../src/training/train-cbl.js';
import { normaliseRows, uniform } from './random-fill.js';

function arg(name: string, def: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
}

const N = arg('n', 2000);
const reps = arg('reps', 5);
const threads = process.argv.some((x) => x.startsWith('--threads=')) ? arg('threads', 1) : undefined;
const deviceArg = process.argv.find((x) => x.startsWith('--device='))?.slice('--device='.length) ?? 'cpu';
if (deviceArg !== 'cpu' && deviceArg !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${deviceArg}`);
const device: Device = deviceArg;
const G = 49;
const D = 512;
const M = 370;
const E = 512;

async function main(): Promise<void> {
  const engine = new Engine({ device, ...(threads === undefined ? {} : { threads }) });
  console.log(`CBL step benchmark: N=${N} G=${G} D=${D} M=${M} E=${E}, device ${device}, threads=${threads ?? 'ORT default'}`);
  let t0 = performance.now();
  const F = uniform(N * G * D, 12345, 0, 1); // post-ReLU-like features
  const I = uniform(N * G * E, 777, -1, 1);
  normaliseRows(I, E);
  const T = uniform(M * E, 99, -1, 1);
  normaliseRows(T, E);
  const W = initConceptLayer(M, D, new Rng(0));
  console.log(`data: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const gemmFlops = 2 * (2 * N * G * D * M); // C = W·Fcᵀ and ∂L/∂W = hᵀ·Fc
  const chunkArg = process.argv.find((a) => a.startsWith('--chunks='));
  const chunkList = chunkArg ? chunkArg.slice(9).split(',').map(Number) : [defaultGridChunk(N, G, M), G];

  // Variants, all timed in interleaved rounds so the (shared) machine's load hits all alike.
  interface Variant {
    label: string;
    run: () => Promise<void>;
    kind: 'step' | 'raw' | 'bare' | 'stream';
    flops: number;
    isDefault?: boolean;
  }
  const variants: Variant[] = [];

  // 1. The training step on prepared data (whole set as the batch), for each grid chunking.
  for (const gridChunk of chunkList) {
    t0 = performance.now();
    const prep = await PreparedCblData.create(engine, { F, I, n: N }, T, { G, D, E, M }, { gridChunk });
    console.log(`prepare (gridChunk ${gridChunk}, ${prep.gridChunks.length} chunks): ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const w = Float32Array.from(W);
    const opt = new Adam(M * D);
    variants.push({
      label: `prepared step, gridChunk ${gridChunk} (loss+grad+Adam)`,
      kind: 'step',
      flops: gemmFlops,
      isDefault: gridChunk === defaultGridChunk(N, G, M),
      run: async () => {
        const { grad } = await prep.lossAndGrad(w);
        opt.update(w, grad);
      },
    });
  }

  // 2. The one-graph step that recomputes the CLIP side every step (what random subsets need).
  if (process.argv.includes('--raw')) {
    const w = Float32Array.from(W);
    variants.push({
      label: 'raw one-graph step (also computes P = I·Tᵀ and v; FLOPs of its 3 GEMMs)',
      kind: 'raw',
      flops: gemmFlops + 2 * N * G * E * M,
      run: async () => {
        await cblLossAndGrad(engine, { B: N, G, D, E, M }, { W: w, F, I, T });
      },
    });
  }

  // 3. The streamed step: the whole set read from a row source in chunks, two passes per step.
  if (process.argv.includes('--stream')) {
    const chunkRows = streamChunkRows({ G, D, E, M }, N, defaultCblMemoryBytes());
    t0 = performance.now();
    const st = await StreamedCblBatch.create(engine, arraySource({ F, I, n: N }), 'all', T, { G, D, E, M }, { chunkRows });
    console.log(`stream means pass (chunks of ${chunkRows} images): ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const w = Float32Array.from(W);
    const opt = new Adam(M * D);
    variants.push({
      label: `streamed step, chunks of ${chunkRows} images (loss+grad+Adam; FLOPs of the prepared step)`,
      kind: 'stream',
      flops: gemmFlops,
      run: async () => {
        const { grad } = await st.lossAndGrad(w);
        opt.update(w, grad);
      },
    });
  }

  // 4. Bare MatMuls with the same FLOPs: a wide output [N·G, D]×[D, 2M] and a long reduction
  // [2M, N·G]×[N·G, D] (small output, like the gradient). The faster one sets the bar.
  for (const [rows, inner, cols, xData, yData] of [
    [N * G, D, 2 * M, F, uniform(D * 2 * M, 5, -0.05, 0.05)],
    [2 * M, N * G, D, uniform(2 * M * N * G, 6, -0.05, 0.05), F],
  ] as const) {
    const b = new GraphBuilder('bare_matmul');
    const x = b.input('X', 'float32', [rows, inner]);
    const y = b.input('Y', 'float32', [inner, cols]);
    b.output(b.op('MatMul', [x, y], {}, 'Z'), 'float32', [rows, cols]);
    const mm = await engine.cached(`bench-matmul-${rows}x${inner}x${cols}`, () => b.toBytes());
    const feeds = { X: f32(xData, [rows, inner]), Y: f32(yData, [inner, cols]) };
    variants.push({
      label: `bare MatMul [${rows}×${inner}]·[${inner}×${cols}]`,
      kind: 'bare',
      flops: gemmFlops,
      run: async () => {
        await mm.run(feeds);
      },
    });
  }

  for (const v of variants) await v.run(); // warm-up: sessions, arenas
  const times: number[][] = variants.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < variants.length; k++) {
      const t = performance.now();
      await variants[k]!.run();
      times[k]!.push((performance.now() - t) / 1000);
    }
  }
  const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
  console.log(`interleaved, ${reps} rounds (median, min):`);
  const sec = times.map(median);
  variants.forEach((v, k) => {
    console.log(
      `  ${v.label}: ${(sec[k]! * 1000).toFixed(1)} ms (min ${(Math.min(...times[k]!) * 1000).toFixed(1)}), ${(v.flops / sec[k]! / 1e9).toFixed(1)} GFLOP/s`,
    );
  });
  const pick = (kind: Variant['kind']): number => Math.min(...sec.filter((_, k) => variants[k]!.kind === kind));
  // x is the step exactly as training runs it (the default grid chunking).
  const defaultIndex = variants.findIndex((v) => v.isDefault);
  const x1 = gemmFlops / (defaultIndex >= 0 ? sec[defaultIndex]! : pick('step')) / 1e9;
  const y1 = gemmFlops / pick('bare') / 1e9;
  console.log(`step GEMM FLOPs ${(gemmFlops / 1e9).toFixed(1)} G; x: the step with the default grid chunking, y: the faster bare MatMul`);
  if (variants.some((v) => v.kind === 'stream')) {
    // x: the prepared step's GEMM FLOPs per streamed step time; own: the streamed step's own GEMMs
    // (C = Fc·W_cᵀ and P = Ic·Tᵀ in both passes, and the gradient) per its time.
    const xs = gemmFlops / pick('stream') / 1e9;
    const own = (2 * N * G * M * (3 * D + 2 * E)) / pick('stream') / 1e9;
    console.log(`cbl_stream_step_gflops=${xs.toFixed(2)} matmul_gflops=${y1.toFixed(2)} ratio=${(xs / y1).toFixed(3)} own_gemm_gflops=${own.toFixed(2)}`);
  }
  await engine.dispose();
  console.log(`cbl_step_gflops=${x1.toFixed(2)} matmul_gflops=${y1.toFixed(2)} ratio=${(x1 / y1).toFixed(3)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
