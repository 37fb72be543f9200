/**
 * `npm run eval:proving`: both evaluations on the proving ground's test split, for each black box
 * (the narrow one trained on the class rule only, and the broad one: broad dense pretraining,
 * frozen trunk, linear class head; see src/proving-ground/demo.ts).
 *
 * Inputs (under `--dir`, default `.cache/proving-ground`; each overridable):
 *   world/    a proving-ground world (224 px); generated here with the demo's sizes and seed 0 when missing
 *   --models  classifier/ and broad-classifier/ ({model.onnx, backbone.json}) and clip/, as
 *             tools/proving_ground/train_models.py writes them; the committed assets/proving-ground/ by default
 *   salf-<box>/  a SALF-CBM trained on the world with that black box; trained here when missing
 *             (concepts: the world's concept words plus the class names, e.g. "blue star", so the
 *             class concept map serves the segmentation protocol)
 * Outputs (`--out`, default `<dir>/eval`), one folder per black box: classification.{json,md},
 * segmentation.{json,md}, segmentation-figure.png, and a cache from which an interrupted run resumes.
 *
 * The segmentation scores SALF-CBM, its CLIP teacher's class map P (the red-circle map of the
 * predicted class's concept, which SALF-CBM's class map is trained to imitate), CAM and Score-CAM.
 *
 * Then one teacher line per black box, `[<box>] teacher pixel_acc_p=<a> miou_p=<b> map_p=<c>`, and
 * one summary line per black box, the default black box's last: `eval acc_standard_sparse=<a>
 * acc_lfcbm=<b> acc_salf_sparse=<c> miou_salf=<d> miou_cam=<e> miou_scorecam=<f>` (fractions in
 * [0, 1]), the others prefixed with `[<box>] `.
 *
 * Usage: node dist/scripts/eval-proving.js [--dir D] [--world D] [--models D] [--out D]
 *          [--black-box narrow|broad|both] [--limit N] [--device cpu|cuda]
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { progressBars } from '../src/cli/progress-bars.js';
import type { Progress } from '../src/progress.js';
import { Engine, type Device } from '../src/engine/session.js';
import { evaluateClassification } from '../src/eval/classification.js';
import { classificationMarkdown, provingSummaryLine, segmentationMarkdown, teacherSummaryLine, writeReport } from '../src/eval/report.js';
import { provingGroundSegDataset } from '../src/proving-ground/seg-dataset.js';
import { evaluateSegmentation } from '../src/eval/segmentation.js';
import type { BackboneConfig } from '../src/models/backbone.js';
import { generateWorld, readWorld } from '../src/proving-ground/index.js';
import { BLACK_BOXES, BLACK_BOX_FOLDERS, DEFAULT_BLACK_BOX, DEMO_COUNTS, DEMO_CUTOFF, provingGroundAssets, type BlackBox } from '../src/proving-ground/demo.js';
import { trainSalfCbm } from '../src/training/train-salf-cbm.js';

/** Trains (when missing) and evaluates a SALF-CBM on one black box; returns its teacher and summary lines. */
async function evaluateBlackBox(
  box: BlackBox,
  ctx: { dir: string; worldDir: string; modelsDir: string; out: string; limit?: number; device: Device; engine: Engine; progress: Progress },
): Promise<{ teacher: string; summary: string }> {
  const { dir, worldDir, modelsDir, limit, device, engine, progress } = ctx;
  const backboneJson = join(modelsDir, BLACK_BOX_FOLDERS[box], 'backbone.json');
  const clipDir = join(modelsDir, 'clip');
  if (!existsSync(backboneJson) || !existsSync(clipDir)) {
    throw new Error(
      `no proving-ground models for the ${box} black box at ${modelsDir} (${BLACK_BOX_FOLDERS[box]}/backbone.json, clip/): train them with \`.venv/bin/python tools/proving_ground/train_models.py --world ${worldDir} --out ${modelsDir}${box === 'broad' ? ' --only broad' : ''}\` (or pass --models, or --black-box)`,
    );
  }
  const world = readWorld(worldDir);
  const salfDir = join(dir, `salf-${box}`);
  const out = join(ctx.out, box);
  if (!existsSync(join(salfDir, 'config.json'))) {
    const raw = JSON.parse(readFileSync(backboneJson, 'utf8')) as BackboneConfig;
    const backbone: BackboneConfig = {
      model: resolve(dirname(backboneJson), raw.model),
      featureTensor: raw.featureTensor,
      layout: raw.layout,
      ...(raw.logitsTensor ? { logitsTensor: raw.logitsTensor } : {}),
      preprocess: raw.preprocess,
    };
    const concepts = [...world.concepts.map((c) => c.name), ...world.classes.map((c) => c.label)];
    progress.log(`training a SALF-CBM on ${worldDir} with the ${box} black box and ${concepts.length} concepts into ${salfDir}`);
    await trainSalfCbm({
      data: join(worldDir, 'images'),
      splitFile: join(worldDir, world.files.splitFile),
      backbone,
      clip: clipDir,
      concepts,
      out: salfDir,
      cbl: { cutoff: DEMO_CUTOFF },
      cacheDir: join(dir, 'cache'),
      device,
      progress,
    });
  }

  const cacheDir = join(out, 'cache');
  const cls = await evaluateClassification({
    model: salfDir,
    data: join(worldDir, 'images'),
    splitFile: join(worldDir, world.files.splitFile),
    split: 'test',
    cacheDir,
    engine,
    device,
    progress,
  });
  const clsMd = classificationMarkdown(cls);
  writeReport(out, 'classification', cls, clsMd);

  const dataset = provingGroundSegDataset(worldDir, 'test', 'main');
  const seg = await evaluateSegmentation({
    model: salfDir,
    dataset,
    limit,
    methods: ['salf', 'teacher', 'cam', 'scorecam'],
    cacheDir,
    figure: { path: join(out, 'segmentation-figure.png'), count: 4 },
    engine,
    progress,
  });
  const segMd = segmentationMarkdown(seg, join(out, 'segmentation.md'));
  writeReport(out, 'segmentation', seg, segMd);

  process.stdout.write(`## ${box} black box\n\n${clsMd}\n${segMd}\nreports: ${out}\n\n`);
  return { teacher: teacherSummaryLine(seg)!, summary: provingSummaryLine(cls, seg) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '.cache/proving-ground' },
      world: { type: 'string' },
      models: { type: 'string' },
      out: { type: 'string' },
      'black-box': { type: 'string', default: 'both' },
      limit: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
    },
  });
  const dir = resolve(values.dir!);
  const worldDir = resolve(values.world ?? join(dir, 'world'));
  const modelsDir = resolve(values.models ?? provingGroundAssets());
  const out = resolve(values.out ?? join(dir, 'eval'));
  const device = values.device as Device;
  if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${values.device}`);
  const limit = values.limit !== undefined ? Number(values.limit) : undefined;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive integer, got ${values.limit}`);
  const which = values['black-box']!;
  if (which !== 'both' && !(BLACK_BOXES as readonly string[]).includes(which))
    throw new Error(`--black-box must be ${BLACK_BOXES.join(', ')} or both, got ${which}`);
  // The default black box last, so the last line is its summary.
  const boxes = which === 'both' ? [...BLACK_BOXES.filter((b) => b !== DEFAULT_BLACK_BOX), DEFAULT_BLACK_BOX] : [which as BlackBox];

  const progress = progressBars();
  if (!existsSync(join(worldDir, 'world.json'))) {
    const total = Object.values(DEMO_COUNTS).reduce((a, b) => a + b, 0);
    progress.start('generating the world', total);
    await generateWorld({ seed: 0, counts: DEMO_COUNTS, outDir: worldDir, onProgress: (done) => progress.update(done) });
    progress.stop();
  }
  const engine = new Engine({ device });
  const teacherLines: string[] = [];
  const lines: string[] = [];
  for (const box of boxes) {
    const { teacher, summary } = await evaluateBlackBox(box, { dir, worldDir, modelsDir, out, limit, device, engine, progress });
    teacherLines.push(`[${box}] ${teacher}`);
    lines.push(box === DEFAULT_BLACK_BOX ? summary : `[${box}] ${summary}`);
  }
  console.log([...teacherLines, ...lines].join('\n'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
