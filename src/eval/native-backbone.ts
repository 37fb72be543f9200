/**
 * The backbone as the evaluations use it: features on the feature map's own grid (so global
 * average pooling and CAM see the true map), the model's logits when it has a classifier output,
 * and the adapters CAM and Score-CAM need.
 */
import type { Engine } from '../engine/session.js';
import { Backbone, type BackboneConfig } from '../models/backbone.js';
import { headFromOnnx, headLogits, readHeadFile, type LinearHead } from './cam.js';
import type { ScoreCamModel } from './score-cam.js';

/**
 * Loads `config` with its grid equal to the feature map's own (probing it with `hint` first;
 * loaded once when `hint` is already the native grid).
 */
export async function loadNativeBackbone(config: BackboneConfig, engine: Engine, hint: [number, number] = [7, 7]): Promise<Backbone> {
  const first = await Backbone.load(config, hint, engine);
  const native = first.nativeGrid;
  if (native[0] === hint[0] && native[1] === hint[1]) return first;
  return Backbone.load(config, [native[0], native[1]], engine);
}

/** Channel-wise mean over positions of channels-last features n×P×D (global average pooling), n×D. */
export function globalAverage(F: Float32Array, n: number, P: number, D: number): Float32Array {
  if (F.length !== n * P * D) throw new Error(`globalAverage: ${F.length} values for ${n}×${P}×${D}`);
  const out = new Float32Array(n * D);
  const acc = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let p = 0; p < P; p++) {
      const row = (i * P + p) * D;
      for (let d = 0; d < D; d++) acc[d]! += F[row + d]!;
    }
    for (let d = 0; d < D; d++) out[i * D + d] = acc[d]! / P;
  }
  return out;
}

/**
 * The CAM head of a backbone: from `headFile` (safetensors) when given, else read from the ONNX
 * graph behind `config.logitsTensor`. Checks that D matches the feature map.
 */
export function backboneHead(backbone: Backbone, headFile?: string): LinearHead {
  let head: LinearHead;
  if (headFile) {
    head = readHeadFile(headFile);
  } else {
    const logits = backbone.config.logitsTensor;
    if (!logits) {
      throw new Error(
        `${backbone.config.model}: CAM needs the classifier head: name the logits tensor (logitsTensor / --logits-tensor) or pass the head weights as a safetensors file`,
      );
    }
    head = headFromOnnx(backbone.derivedModel(), logits, backbone.config.featureTensor, backbone.config.model);
  }
  if (backbone.config.layout !== 'nchw') throw new Error(`${backbone.config.model}: CAM and Score-CAM need a CNN feature map (layout 'nchw')`);
  if (head.D !== backbone.featureDim)
    throw new Error(`${head.source}: the head has D = ${head.D} inputs but the feature map has ${backbone.featureDim} channels`);
  return head;
}

/** A Score-CAM classifier: the backbone's own logits when it has them, else the head on pooled features. */
export function scoreCamModel(engine: Engine, backbone: Backbone, head: LinearHead | undefined): ScoreCamModel {
  const P = backbone.gridSize;
  const D = backbone.featureDim;
  if (backbone.numClasses !== undefined) {
    return {
      inputSize: backbone.inputSize,
      numClasses: backbone.numClasses,
      logits: async (pixels, n) => (await backbone.run(pixels, n)).logits!,
    };
  }
  if (!head) throw new Error(`${backbone.config.model}: Score-CAM needs the model's logits: name its logits tensor or give the head weights`);
  return {
    inputSize: backbone.inputSize,
    numClasses: head.L,
    logits: async (pixels, n) => headLogits(engine, head, globalAverage((await backbone.run(pixels, n)).features, n, P, D), n),
  };
}
