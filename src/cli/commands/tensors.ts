/** `salf-cbm tensors`: list an ONNX model's tensors, and the feature map found automatically. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { decodeModel } from '../../engine/onnx-builder.js';
import { listTensors } from '../../engine/surgery.js';
import { findFeatureTensor } from '../../models/feature-tensor.js';

export function tensorsCommand(): Command {
  return new Command('tensors')
    .description("list an ONNX model's inputs and node outputs (candidates for --feature-tensor), then the feature tensor found automatically and why")
    .argument('<model.onnx>')
    .option('--filter <text>', 'only names or op types containing this text')
    .action((path: string, flags: { filter?: string }) => {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (err) {
        throw new Error(`${path}: cannot read (${(err as Error).message})`);
      }
      const model = decodeModel(bytes, path);
      const f = flags.filter?.toLowerCase();
      for (const t of listTensors(model)) {
        if (!f || t.name.toLowerCase().includes(f) || t.op.toLowerCase().includes(f)) console.log(`${t.op}\t${t.name}`);
      }
      let found: string;
      try {
        const c = findFeatureTensor(model, path);
        found = `feature tensor (automatic): ${c.featureTensor}, layout ${c.layout}${c.cls ? `, cls ${c.cls}` : ''}: ${c.reason}`;
      } catch (err) {
        found = `feature tensor (automatic): none. ${(err as Error).message}`;
      }
      console.log(`# ${found}`);
    });
}
