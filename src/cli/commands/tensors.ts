/** `salf-cbm tensors`: list an ONNX model's tensors, to pick the feature map. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { decodeModel } from '../../engine/onnx-builder.js';
import { listTensors } from '../../engine/surgery.js';

export function tensorsCommand(): Command {
  return new Command('tensors')
    .description("list an ONNX model's inputs and node outputs (candidates for --feature-tensor)")
    .argument('<model.onnx>')
    .option('--filter <text>', 'only names or op types containing this text')
    .action((path: string, flags: { filter?: string }) => {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (err) {
        throw new Error(`${path}: cannot read (${(err as Error).message})`);
      }
      const f = flags.filter?.toLowerCase();
      for (const t of listTensors(decodeModel(bytes, path))) {
        if (!f || t.name.toLowerCase().includes(f) || t.op.toLowerCase().includes(f)) console.log(`${t.op}\t${t.name}`);
      }
    });
}
