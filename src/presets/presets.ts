/**
 * The paper's Table 1 setups as data (SPEC "The paper's figures" and step 4's LF-CBM settings):
 * dataset, backbone, CLIP, concept set and hyperparameters of each. `src/presets/index.ts` turns
 * one into command-line option values; nothing else reads these records.
 *
 * CIFAR-10/100 have no preset: the paper reports no CIFAR results, and LF-CBM's CIFAR runs use
 * CLIP's own ResNet-50 image tower as the backbone, not a torchvision network.
 */

/** A Table 1 setup. */
export interface Preset {
  /** One line for help texts. */
  description: string;
  /** Dataset reader (`--data <kind>:<path>`): the official layout of the paper's dataset. */
  dataset: 'cub' | 'places365' | 'imagenet';
  /** Classes of the dataset (the reader checks it). */
  classes: number;
  /**
   * Backbone: the name `tools/export_torchvision_backbones.py` exports it under, to
   * `<cache>/backbones/<name>/model.onnx`; its feature tensor is found automatically.
   */
  backbone: 'resnet18_cub' | 'resnet50';
  /** What the weights are, in words. */
  backboneWeights: string;
  /** CLIP ViT-B/16 in its transformers.js ONNX form (hub id). */
  clip: string;
  /** LF-CBM's filtered concept set (`lfcbm:<name>`) and its size in the paper. */
  conceptSet: 'cub' | 'places365' | 'imagenet';
  paperConcepts: number;
  /** Prompting grid and circle radius at 224 px (SPEC step 2: the paper's 7×7, r = 32). */
  grid: [number, number];
  radius: number;
  /** Interpretability cutoff (SPEC step 3; LF-CBM's default). */
  cutoff: number;
  /** LF-CBM's `lam` (the elastic-net λ·0.99) and its GLM-SAGA iteration count (SPEC step 4). */
  lam: number;
  epochs: number;
  /** LF-CBM's CLIP cutoff for this dataset (the "appears in the data" filter of step 1). */
  clipCutoff: number;
  /** The paper's sparse SALF-CBM top-1 accuracy, for comparison (SPEC Table 1). */
  paperAccuracy: number;
}

const CLIP_VIT_B16 = 'Xenova/clip-vit-base-patch16';

/** Every preset, by name. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  'cub-resnet18': {
    description: 'CUB-200-2011, ResNet-18 trained on CUB, 370 concepts (Table 1, 74.35%)',
    dataset: 'cub',
    classes: 200,
    backbone: 'resnet18_cub',
    backboneWeights: "pytorchcv's resnet18_cub (ResNet-18 fine-tuned on CUB-200), as LF-CBM uses",
    clip: CLIP_VIT_B16,
    conceptSet: 'cub',
    paperConcepts: 370,
    grid: [7, 7],
    radius: 32,
    cutoff: 0.45,
    lam: 2e-4,
    epochs: 5000,
    clipCutoff: 0.26,
    paperAccuracy: 0.7435,
  },
  'places365-resnet50': {
    description: 'Places365, ResNet-50 trained on ImageNet, 2,544 concepts (Table 1, 46.73%)',
    dataset: 'places365',
    classes: 365,
    backbone: 'resnet50',
    backboneWeights: "torchvision's resnet50 with ImageNet weights (IMAGENET1K_V1)",
    clip: CLIP_VIT_B16,
    conceptSet: 'places365',
    paperConcepts: 2544,
    grid: [7, 7],
    radius: 32,
    cutoff: 0.45,
    lam: 3e-4,
    epochs: 80,
    clipCutoff: 0.28,
    paperAccuracy: 0.4673,
  },
  'imagenet-resnet50': {
    description: 'ImageNet, ResNet-50 trained on ImageNet, 4,741 concepts (Table 1, 75.32%)',
    dataset: 'imagenet',
    classes: 1000,
    backbone: 'resnet50',
    backboneWeights: "torchvision's resnet50 with ImageNet weights (IMAGENET1K_V1)",
    clip: CLIP_VIT_B16,
    conceptSet: 'imagenet',
    paperConcepts: 4741,
    grid: [7, 7],
    radius: 32,
    cutoff: 0.45,
    lam: 1e-4,
    epochs: 80,
    clipCutoff: 0.28,
    paperAccuracy: 0.7532,
  },
};
