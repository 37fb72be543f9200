/** Options and helpers shared by the explanation commands (explain, rules, explain-region, intervene, video). */
import type { Command } from 'commander';
import { Engine } from '../../engine/session.js';
import { loadConceptModel, type ConceptModel } from '../../models/concept-model.js';
import type { ConceptEdit } from '../../explain/intervene.js';
import { resolveName } from '../../explain/names.js';
import { parseRegion, rasteriseRegion, type Region, type RegionFrame } from '../../explain/regions.js';
import type { InputGeometry } from '../../explain/geometry.js';
import { oneOf } from '../options.js';

/** Adds --model and --device. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir|file.onnx>', 'a trained model directory, or a single-file export from `salf-cbm export`')
    .option('--device <device>', 'execution provider: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu');
}

/** The engine of --device, for the command's model. */
export function modelEngine(flags: { device: 'cpu' | 'cuda' }): Engine {
  return new Engine({ device: flags.device });
}

/**
 * Opens the model named by --model on `engine`. Both are disposed when the command ends:
 * `await using engine = modelEngine(flags); await using model = await openModel(flags, engine);`.
 */
export function openModel(flags: { model: string }, engine: Engine): Promise<ConceptModel> {
  return loadConceptModel(flags.model, engine);
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `r` with `radius` filled in when it is a point given without one. */
export function withRadius(r: Region, radius?: number): Region {
  return r.kind === 'point' && r.radius === undefined && radius !== undefined ? { ...r, radius } : r;
}

/** Prints warnings on stderr, once each. */
export function warn(messages: readonly string[]): void {
  for (const m of new Set(messages)) process.stderr.write(`warning: ${m}\n`);
}

/** Formats a probability as a percentage. */
export function pct(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

/**
 * Parses an edit `<concept>=<beta>[@<region>]` (e.g. `red=2@box:10,10,40,40`; the whole image
 * without a region) into a ConceptEdit on an image with geometry `g`; `radius` is the default
 * disk radius of a point region.
 */
export async function parseEdit(model: ConceptModel, spec: string, g: InputGeometry, frame: RegionFrame, radius?: number): Promise<ConceptEdit> {
  const m = /^(.+?)=([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:@(.+))?$/s.exec(spec.trim());
  if (!m) throw new Error(`edit ${JSON.stringify(spec)}: expected <concept>=<beta>[@<region>], e.g. red=2@box:10,10,40,40`);
  const concept = resolveName(model.concepts, m[1]!.trim(), 'concept');
  const region = withRadius(await parseRegion(m[3] ?? 'all'), radius);
  return { concept, beta: Number(m[2]), region: rasteriseRegion(region, g, { frame }) };
}
