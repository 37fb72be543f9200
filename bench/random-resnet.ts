/**
 * Random-weight ResNets written as ONNX files, with the architecture (and so the cost) of
 * torchvision's resnet18 / resnet50: batch norm folded into conv biases, as an exported
 * inference model would have it. The weights are random (scaled so activations stay of order
 * one): for timing, never for accuracy.
 */
import { writeFileSync } from 'node:fs';
import { GraphBuilder, attr } from '../src/engine/onnx-builder.js';

export type ResNetArch = 'resnet18' | 'resnet50';

/** What was written. */
export interface ResNetInfo {
  path: string;
  inputName: string;
  featureTensor: string;
  /** Channels of the feature map (512 or 2048) and its side (size/32). */
  featureDim: number;
  featureSide: number;
  /** Multiply-accumulates of one image (convolutions and the classifier). */
  macs: number;
}

/** Writes a random `arch` for `size`×`size` inputs and `classes` outputs to `path`. */
export function writeRandomResNet(path: string, arch: ResNetArch, size = 224, classes = 1000, seed = 1): ResNetInfo {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const b = new GraphBuilder(arch, 13);
  let macs = 0;
  let side = size;
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, gain = 1): string => {
    const fan = cin * k * k;
    const a = gain * Math.sqrt(3 / fan);
    const w = new Float32Array(cout * fan);
    for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * a;
    const bias = new Float32Array(cout);
    for (let i = 0; i < cout; i++) bias[i] = (rand() * 2 - 1) * 0.05;
    const pad = Math.floor(k / 2);
    side = Math.floor((side + 2 * pad - k) / stride) + 1;
    macs += cout * fan * side * side;
    return b.op('Conv', [x, b.constF32(w, [cout, cin, k, k]), b.constF32(bias, [cout])], {
      kernel_shape: attr.ints([k, k]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
    });
  };
  const relu = (x: string, name?: string): string => b.op('Relu', [x], {}, name);

  const input = b.input('pixels', 'float32', ['N', 3, size, size]);
  let x = relu(conv(input, 3, 64, 7, 2));
  x = b.op('MaxPool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  side = Math.floor((side + 2 - 3) / 2) + 1;
  const bottleneck = arch === 'resnet50';
  const blocks = bottleneck ? [3, 4, 6, 3] : [2, 2, 2, 2];
  const expansion = bottleneck ? 4 : 1;
  let cin = 64;
  blocks.forEach((n, stage) => {
    const width = 64 * 2 ** stage;
    for (let i = 0; i < n; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const cout = width * expansion;
      const inSide = side;
      let y: string;
      if (bottleneck) {
        y = relu(conv(x, cin, width, 1, 1));
        y = relu(conv(y, width, width, 3, stride));
        y = conv(y, width, cout, 1, 1, 0.3);
      } else {
        y = relu(conv(x, cin, width, 3, stride));
        y = conv(y, width, cout, 3, 1, 0.3);
      }
      const outSide = side;
      let shortcut = x;
      if (stride !== 1 || cin !== cout) {
        side = inSide;
        shortcut = conv(x, cin, cout, 1, stride);
        side = outSide;
      }
      const last = stage === blocks.length - 1 && i === n - 1;
      x = relu(b.op('Add', [y, shortcut]), last ? 'features' : undefined);
      cin = cout;
    }
  });
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [x])], { axis: attr.i(1) });
  const fc = new Float32Array(classes * cin);
  for (let i = 0; i < fc.length; i++) fc[i] = (rand() * 2 - 1) * Math.sqrt(3 / cin);
  b.output(
    b.op('Gemm', [pooled, b.constF32(fc, [classes, cin]), b.constF32(new Float32Array(classes), [classes])], { transB: attr.i(1) }, 'logits'),
    'float32',
    ['N', classes],
  );
  macs += classes * cin;
  writeFileSync(path, b.toBytes());
  return { path, inputName: 'pixels', featureTensor: 'features', featureDim: cin, featureSide: side, macs };
}
