/**
 * Test helper: an ONNX model's float32 graph inputs and outputs turned into float16 ones (a Cast
 * after each such input and before each such output), the interface of an fp16 export that does
 * not keep float32 I/O. The weights stay float32: this proves the float16 plumbing, not fp16
 * arithmetic.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { decodeModel, DType, encodeModel, onnx } from '../../src/engine/onnx-builder.js';

type NodeProto = onnxProto.onnx.INodeProto;

/** Rewrites `src` into `dst` with float16 I/O (see the module comment). */
export function writeHalfIoModel(src: string, dst: string): void {
  const model = decodeModel(readFileSync(src), src);
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const head: NodeProto[] = [];
  const tail: NodeProto[] = [];
  for (const input of graph.input ?? []) {
    const t = input.type?.tensorType;
    if (!t || t.elemType !== DType.float32) continue;
    const inner = `${input.name}__f32`;
    for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === input.name ? inner : x));
    head.push({
      opType: 'Cast',
      input: [input.name!],
      output: [inner],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DType.float32 }],
    });
    t.elemType = DType.float16;
  }
  for (const output of graph.output ?? []) {
    const t = output.type?.tensorType;
    if (!t || t.elemType !== DType.float32) continue;
    const inner = `${output.name}__f32`;
    for (const n of nodes) n.output = (n.output ?? []).map((x) => (x === output.name ? inner : x));
    tail.push({
      opType: 'Cast',
      input: [inner],
      output: [output.name!],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DType.float16 }],
    });
    t.elemType = DType.float16;
  }
  graph.node = [...head, ...nodes, ...tail];
  writeFileSync(dst, encodeModel(model));
}
