/**
 * `--preset <name>`: fills a command's options from a Table 1 setup (src/presets). The values are
 * set when the option is parsed, with source `preset`, on every option not given on the command
 * line (before or after `--preset`), so an explicit flag always wins and required options the
 * preset supplies need not be typed.
 */
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { parseDataSpec } from '../data/datasets.js';
import { backboneExportCommand, getPreset, presetNames, presetOptions, type PresetTarget } from '../presets/index.js';

/** Sources that mean the user chose the value. */
const USER_SOURCES = new Set(['cli', 'env']);

/** Sets `values` on the options `cmd` has, except those the user gave. */
export function applyPresetValues(cmd: Command, values: Record<string, unknown>): void {
  const known = new Set(cmd.options.map((o) => o.attributeName()));
  for (const [key, value] of Object.entries(values)) {
    if (!known.has(key) || USER_SOURCES.has(cmd.getOptionValueSource(key) ?? '')) continue;
    cmd.setOptionValueWithSource(key, value, 'preset');
  }
}

/** Adds `--preset` to `cmd` for `target`'s options. */
export function addPresetOption(cmd: Command, target: PresetTarget): Command {
  cmd.option(
    '--preset <name>',
    `a Table 1 setup of the paper (${presetNames().join(', ')}); every value it sets can be overridden by its own flag`,
    (name: string) => {
      try {
        getPreset(name);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
      return name;
    },
  );
  cmd.on('option:preset', () => applyPresetValues(cmd, presetOptions(cmd.getOptionValue('preset') as string, target)));
  cmd.hook('preAction', () => {
    const name = cmd.getOptionValue('preset') as string | undefined;
    if (!name) return;
    const preset = getPreset(name);
    // The preset's dataset reader, unless --data already names one (`kind:path`).
    const data = cmd.getOptionValue('data') as string | undefined;
    if (data && parseDataSpec(data).kind === undefined) cmd.setOptionValueWithSource('data', `${preset.dataset}:${data}`, cmd.getOptionValueSource('data'));
    const backbone = cmd.getOptionValue('backbone') as string | undefined;
    if (backbone && cmd.getOptionValueSource('backbone') === 'preset' && !cmd.getOptionValue('backboneConfig') && !existsSync(backbone)) {
      throw new Error(
        `preset ${name}: its backbone (${preset.backboneWeights}) is not at ${backbone}. Make it with \`${backboneExportCommand(preset.backbone)}\` ` +
          '(needs Python with torch and torchvision, and the internet for the weights), or pass --backbone <model.onnx> / --backbone-config <file.json>',
      );
    }
  });
  return cmd;
}
