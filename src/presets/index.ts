/**
 * The one preset factory: a Table 1 setup (`presets.ts`) as the option values of `train`,
 * `eval classification` or `concepts filter`, keyed by their commander attribute names. A flag given on the command
 * line always wins over the preset's value (see `src/cli/preset-option.ts`).
 */
import { join } from 'node:path';
import { closestNames } from '../closest-names.js';
import { CONCEPT_SET_PREFIX, salfCacheDir } from '../concepts/concept-sets.js';
import { PRESETS, type Preset } from './presets.js';

export { PRESETS, type Preset } from './presets.js';

/** The names of the presets. */
export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** The preset called `name`; an unknown name is an error suggesting the closest ones. */
export function getPreset(name: string): Preset {
  const preset = PRESETS[name];
  if (preset) return preset;
  const near = closestNames(presetNames(), name);
  throw new Error(`unknown preset ${JSON.stringify(name)}; did you mean ${near.join(', ')}? (presets: ${presetNames().join(', ')})`);
}

/** Where `tools/export_torchvision_backbones.py` puts a backbone by default: `<cache>/backbones/<name>/model.onnx`. */
export function presetBackbonePath(backbone: Preset['backbone'], cacheDir = salfCacheDir()): string {
  return join(cacheDir, 'backbones', backbone, 'model.onnx');
}

/** The command that makes a preset's backbone file. */
export function backboneExportCommand(backbone: Preset['backbone']): string {
  return `python tools/export_torchvision_backbones.py ${backbone}`;
}

/** The commands a preset configures. */
export type PresetTarget = 'train' | 'eval-classification' | 'concepts-filter';

/** Option values (commander attribute names → values) a preset gives `target`. */
export function presetOptions(name: string, target: PresetTarget, cacheDir = salfCacheDir()): Record<string, unknown> {
  const p = getPreset(name);
  const concepts = `${CONCEPT_SET_PREFIX}${p.conceptSet}`;
  const common = { clip: p.clip, lam: p.lam, epochs: p.epochs };
  if (target === 'eval-classification') return { ...common, lfcbmConcepts: concepts, lfcbmCutoff: p.cutoff };
  // Filtering one's own concept list for this setup: LF-CBM's CLIP model and its dataset's cutoff.
  if (target === 'concepts-filter') return { clip: p.clip, clipCutoff: p.clipCutoff };
  return {
    ...common,
    concepts,
    backbone: presetBackbonePath(p.backbone, cacheDir),
    inputSize: 224,
    resize: 256,
    crop: 'center',
    interpolation: 'bilinear',
    grid: p.grid,
    radius: p.radius,
    cutoff: p.cutoff,
    final: 'sparse',
  };
}
