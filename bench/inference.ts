/**
 * Inference overhead of the single-file SALF-CBM export against its bare backbone, on the same
 * batch, in the same process, timed in interleaved rounds.
 *
 * The backbone is a random-weight network with torchvision's architecture (default resnet18 at
 * 224 px, the paper's CUB-200 setting: D = 512, M = 370 concepts, L = 200 classes, 7×7 grid);
 * `--setting=imagenet` is resnet50 with M = 4741, L = 1000 (the paper's ImageNet setting).
 *
 * Usage: node dist/bench/inference.js [--setting=cub|imagenet] [--batch=8] [--reps=9]
 *   [--threads=K] [--pooling=mean|max|softmax] [--arch=...] [--concepts=M] [--classes=L]
 * Last line: inference_overhead=<salf_forward/backbone_forward − 1>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine, f32, type ort } from '../src/engine/session.js';
import { exportSalfCbm } from '../src/models/export.js';
import type { Pooling } from '../src/models/salf-head.js';
import type { ResNetArch } from './random-resnet.js';
import { fill, randomSalfCbm } from './random-salf.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
}
const setting = arg('setting') ?? 'cub';
if (setting !== 'cub' && setting !== 'imagenet') throw new Error(`--setting must be cub or imagenet (got ${setting})`);
const defaults = setting === 'cub' ? { arch: 'resnet18', M: 370, L: 200 } : { arch: 'resnet50', M: 4741, L: 1000 };
const arch = (arg('arch') ?? defaults.arch) as ResNetArch;
const M = Number(arg('concepts') ?? defaults.M);
const L = Number(arg('classes') ?? defaults.L);
const batch = Number(arg('batch') ?? 8);
const reps = Number(arg('reps') ?? 9);
const threads = arg('threads') === undefined ? undefined : Number(arg('threads'));
const pooling = (arg('pooling') ?? 'mean') as Pooling;
const size = 224;
const grid: [number, number] = [7, 7];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'salf-bench-inference-'));
  try {
    const engine = new Engine(threads === undefined ? {} : { threads });
    let t0 = performance.now();
    const { net, model } = randomSalfCbm(dir, { arch, M, L, pooling, size, engine });
    const D = net.featureDim;
    const G = grid[0] * grid[1];
    const onnx = join(dir, 'salf.onnx');
    const res = await exportSalfCbm(model, onnx);
    const headMacs = G * D * M + L * M;
    console.log(`setting ${setting}: ${arch} (random weights), ${size} px, batch ${batch}, ${pooling} pooling, threads ${threads ?? 'ORT default'}`);
    console.log(
      `backbone ${(net.macs / 1e9).toFixed(2)} GMAC/image, feature map ${D}×${net.featureSide}×${net.featureSide}; head M=${M}, L=${L}, grid 7×7: ${(headMacs / 1e9).toFixed(3)} GMAC/image = ${((100 * headMacs) / net.macs).toFixed(1)}% of the backbone`,
    );
    console.log(`export ${(res.bytes / 2 ** 20).toFixed(0)} MiB written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    t0 = performance.now();
    const bare = await engine.open(net.path);
    const salf = await engine.open(onnx);
    const pixels = f32(fill(batch * 3 * size * size, 17, 2), [batch, 3, size, size]);
    const variants: { label: string; session: ort.InferenceSession }[] = [
      { label: 'bare backbone', session: bare },
      { label: 'exported SALF-CBM (logits, concept maps, activations)', session: salf },
    ];
    for (const v of variants) await v.session.run({ pixels }); // warm-up
    console.log(`sessions and warm-up: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const times: number[][] = variants.map(() => []);
    for (let r = 0; r < reps; r++) {
      // Alternate the order each round so drift on a shared machine hits both alike.
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) {
        const t = performance.now();
        await variants[k]!.session.run({ pixels });
        times[k]!.push(performance.now() - t);
      }
    }
    const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
    variants.forEach((v, k) =>
      console.log(`  ${v.label}: median ${median(times[k]!).toFixed(1)} ms, min ${Math.min(...times[k]!).toFixed(1)} ms over ${reps} rounds`),
    );
    const overhead = median(times[1]!) / median(times[0]!) - 1;
    const overheadMin = Math.min(...times[1]!) / Math.min(...times[0]!) - 1;
    console.log(`overhead from minima: ${overheadMin.toFixed(4)}; FLOP share of the head: ${(headMacs / net.macs).toFixed(4)}`);
    await engine.dispose();
    await bare.release();
    await salf.release();
    console.log(`inference_overhead=${overhead.toFixed(4)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
