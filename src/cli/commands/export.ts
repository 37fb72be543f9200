/** `salf-cbm export`: a trained model as one self-contained ONNX file (plus a JSON sidecar). */
import { Command } from 'commander';
import { Engine } from '../../engine/session.js';
import { conceptModelFromSalf } from '../../models/concept-model.js';
import { exportSalfCbm } from '../../models/export.js';
import { ExportedSalfCbm, compareForward } from '../../models/exported.js';
import { SalfCbm } from '../../models/salf-cbm.js';
import { oneOf } from '../options.js';

/** Largest difference from the library's forward pass accepted by the check. */
const TOLERANCE = 1e-4;

export function exportCommand(): Command {
  return new Command('export')
    .description('export a trained model as one ONNX file: backbone, resize, concept layer, pooling, standardisation and final layer')
    .requiredOption('--model <dir>', 'trained model directory')
    .requiredOption('--out <file.onnx>', 'the ONNX file to write (its sidecar goes beside it as <name>.json)')
    .option('--no-check', 'skip running the export against the library on random inputs')
    .option('--device <device>', 'execution provider for the check: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu')
    .action(async (flags) => {
      await using engine = new Engine({ device: flags.device });
      await using model = SalfCbm.load(flags.model, engine);
      const res = await exportSalfCbm(model, flags.out);
      for (const w of res.warnings) process.stderr.write(`warning: ${w}\n`);
      console.log(`wrote ${res.onnxPath} (${(res.bytes / 2 ** 20).toFixed(1)} MiB, opset ${res.info.opset}) and ${res.sidecarPath}`);
      console.log(
        `  input ${res.info.input.name} [${res.info.input.shape.join(', ')}]; outputs ${Object.entries(res.info.outputs)
          .map(([k, v]) => `${k} [${v.join(', ')}]`)
          .join(', ')}`,
      );
      if (flags.check) {
        await using exported = await ExportedSalfCbm.load(res.onnxPath, engine);
        const d = await compareForward(conceptModelFromSalf(model, engine), exported);
        const worst = Math.max(d.logits, d.conceptMaps, d.activations, d.standardised);
        console.log(
          `  check on random inputs: largest difference from the library's forward pass ${worst.toExponential(2)} (logits ${d.logits.toExponential(2)})`,
        );
        if (!(worst <= TOLERANCE)) throw new Error(`${res.onnxPath}: the export differs from the library's forward pass by ${worst} (more than ${TOLERANCE})`);
      }
    });
}
