"""Export the paper's backbones to ONNX for salf-cbm's presets (src/presets/presets.ts).

    python tools/export_torchvision_backbones.py resnet18|resnet18_cub|resnet50|vit_b_16 [--out DIR] [--random]

- resnet18: torchvision's ResNet-18 with its ImageNet weights (IMAGENET1K_V1);
- resnet18_cub: ResNet-18 fine-tuned on CUB-200, as Label-Free CBM uses it (pytorchcv's
  `resnet18_cub`; `pip install pytorchcv`), 200 classes;
- resnet50: torchvision's ResNet-50 with its ImageNet weights (IMAGENET1K_V1);
- vit_b_16: torchvision's ViT-B/16 with its ImageNet weights (IMAGENET1K_V1).

Writes into DIR (default: $SALF_CBM_CACHE, else ~/.cache/salf-cbm, /backbones/<name>/, where
the presets look):

- model.onnx: opset 17, input `pixels` N×3×224×224 (dynamic batch), outputs `logits` and
  `features` (CNNs: the last stage's map, N×C×7×7, the input of global pooling; ViT: the final
  LayerNorm's tokens, N×197×768, CLS first). salf-cbm finds `features` on its own too
  (`salf-cbm tensors DIR/model.onnx` prints the choice), which is what the presets rely on;
- reference.png, reference.json, reference-features.f32: PyTorch's own result on a small
  synthetic image (seeded, 320×240) with torchvision's preprocessing: the SHA-256 of the
  224×224 crop, all logits, and the whole feature tensor (float32, little-endian, C-order,
  batch dimension dropped), for test/models/torchvision-export.test.ts;
- backbone.json: the salf-cbm BackboneConfig (model path relative to DIR; written last: its
  presence marks a full export).

Preprocessing, as torchvision (these weights' own transforms) and LF-CBM use it: Resize(256)
bilinear + CenterCrop(224) on a PIL image, ToTensor, ImageNet mean/std (here evaluated in float64
and rounded once, as salf-cbm does).

The weights are downloaded by torchvision / pytorchcv on first use, which needs the internet.
`--random` exports the same architectures with seeded random weights (weights=None), to check
the export path only: such a model explains nothing. (torchvision initialises ViT's classifier
to zeros; with --random it is drawn from N(0, 0.02²) so that the logits are worth comparing.)

Status: run in this project's sandbox (torch 2.14.1, torchvision 0.29.1, pytorchcv 0.0.74, CPU)
with --random only: the sandbox cannot download the weights. All four random-weight exports
were loaded by salf-cbm with the automatically found feature tensor (`features` in each: the
input of the average pooling before the classifier, 512×7×7 / 2048×7×7, written by the last
ReLU; for vit_b_16 the final LayerNorm's 197×768 tokens, CLS dropped, on a 14×14 grid), a
preset's flags on model.onnx gave the config in backbone.json, salf-cbm's 224×224 crop of reference.png was
torchvision's byte for byte, and salf-cbm's logits and features matched PyTorch's within
2e-6 of their largest value (test/models/torchvision-export.test.ts). Export times on 1 CPU
thread: 3–5 s for the ResNets, 16 s for ViT-B/16; files 45, 47, 102 and 346 MB. The lines that
load the real weights (weights=IMAGENET1K_V1, pytorchcv's pretrained=True) have not been run
here; such exports are checked the same way by that test when written to .cache/torchvision/.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image

SIZE = 224
RESIZE = 256
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PREPROCESS = {'resize': {'size': SIZE, 'mode': 'center', 'resize': RESIZE}, 'interpolation': 'bilinear', 'mean': MEAN, 'std': STD}
NAMES = ('resnet18', 'resnet18_cub', 'resnet50', 'vit_b_16')


class _ResNetExport(torch.nn.Module):
    """A torchvision ResNet returning (logits, last-stage feature map)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixels):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(pixels))))
        features = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        logits = n.fc(torch.flatten(n.avgpool(features), 1))
        return logits, features


class _PytorchcvResNetExport(torch.nn.Module):
    """pytorchcv's ResNet (features.* stages, then output): (logits, map before final_pool)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixels):
        x = pixels
        for name, stage in self.net.features.named_children():
            if name == 'final_pool':
                break
            x = stage(x)
        features = x
        pooled = self.net.features.final_pool(features)
        logits = self.net.output(pooled.flatten(1))
        return logits, features


class _VitExport(torch.nn.Module):
    """torchvision's VisionTransformer: (logits, final LayerNorm tokens with CLS first)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixels):
        n = self.net
        x = n._process_input(pixels)
        cls = n.class_token.expand(x.shape[0], -1, -1)
        features = n.encoder(torch.cat([cls, x], dim=1))  # ends with the final LayerNorm
        logits = n.heads(features[:, 0])
        return logits, features


def build(name: str, random: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The network and its export wrapper."""
    if name == 'resnet18_cub':
        from pytorchcv.model_provider import get_model
        net = get_model('resnet18_cub', pretrained=not random)
        return net, _PytorchcvResNetExport(net)
    from torchvision import models
    if name == 'resnet18':
        net = models.resnet18(weights=None if random else models.ResNet18_Weights.IMAGENET1K_V1)
        return net, _ResNetExport(net)
    if name == 'resnet50':
        net = models.resnet50(weights=None if random else models.ResNet50_Weights.IMAGENET1K_V1)
        return net, _ResNetExport(net)
    net = models.vit_b_16(weights=None if random else models.ViT_B_16_Weights.IMAGENET1K_V1)
    if random:
        torch.nn.init.normal_(net.heads.head.weight, std=0.02)
    return net, _VitExport(net)


def default_out(name: str) -> Path:
    root = os.environ.get('SALF_CBM_CACHE') or os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'salf-cbm')
    return Path(root) / 'backbones' / name


def reference_image() -> Image.Image:
    """A seeded 320×240 test image: smooth colour ramps plus noise (not a photo)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float64)
    base = np.stack([xx / 319 * 255, yy / 239 * 255, 127.5 + 127.5 * np.sin((xx + yy) / 23.0)], axis=-1)
    noisy = base + rng.normal(0, 20, base.shape)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8), 'RGB')


def preprocess(img: Image.Image) -> tuple[np.ndarray, torch.Tensor]:
    """torchvision Resize(256, bilinear) + CenterCrop(224), then (x/255 − mean)/std in float64.

    Returns the 224×224×3 uint8 crop and the 1×3×224×224 float32 input.
    """
    from torchvision import transforms
    crop_img = transforms.CenterCrop(SIZE)(transforms.Resize(RESIZE, interpolation=transforms.InterpolationMode.BILINEAR)(img))
    crop = np.asarray(crop_img, dtype=np.uint8)
    x = (crop.astype(np.float64) / 255.0 - np.array(MEAN)) / np.array(STD)
    return crop, torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1).copy())[None]


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, (json.dumps(obj, indent=2) + '\n').encode())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('name', choices=NAMES)
    ap.add_argument('--out', type=Path, help='output folder (default: where the presets look)')
    ap.add_argument('--random', action='store_true', help='seeded random weights (weights=None): checks the export path only')
    args = ap.parse_args()
    out = (args.out or default_out(args.name)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # nn.MultiheadAttention's inference fast path (one fused op) has no ONNX export; the reference
    # is computed on the same unfused path that is exported.
    torch.backends.mha.set_fastpath_enabled(False)
    started = time.time()
    net, wrapper = build(args.name, args.random)
    net.eval()
    wrapper.eval()

    photo_path = out / 'reference.png'
    reference_image().save(photo_path)
    photo = Image.open(photo_path).convert('RGB')
    crop, x = preprocess(photo)
    with torch.no_grad():
        logits, features = wrapper(x)
        direct = net(x)
    if not torch.equal(logits, direct):
        raise SystemExit(f'{args.name}: the export wrapper does not reproduce the model\'s own forward pass')

    # The classic (TorchScript) exporter: deterministic, one file.
    warnings.filterwarnings('ignore', message='You are using the legacy TorchScript-based ONNX export')
    onnx_path = out / 'model.onnx'
    tmp = out / 'model.onnx.tmp'
    with torch.no_grad():
        torch.onnx.export(wrapper, (torch.zeros(1, 3, SIZE, SIZE),), str(tmp), input_names=['pixels'], output_names=['logits', 'features'],
                          dynamic_axes={'pixels': {0: 'N'}, 'logits': {0: 'N'}, 'features': {0: 'N'}}, opset_version=17, dynamo=False)
    onnx.checker.check_model(str(tmp))
    outs = [o.name for o in onnx.load(str(tmp), load_external_data=False).graph.output]
    if outs != ['logits', 'features']:
        raise SystemExit(f'{args.name}: unexpected ONNX outputs {outs}')
    os.replace(tmp, onnx_path)

    feats = features[0].numpy().astype('<f4')
    write_atomic(out / 'reference-features.f32', feats.tobytes(order='C'))
    write_json(out / 'reference.json', {
        '_comment': f'PyTorch on {photo_path.name} with the preprocessing of backbone.json; written by tools/export_torchvision_backbones.py.',
        'backbone': args.name,
        'randomWeights': args.random,
        'image': photo_path.name,
        'imageSize': list(photo.size),
        'preprocess': PREPROCESS,
        'inputSha256': hashlib.sha256(crop.tobytes()).hexdigest(),
        'logits': [float(v) for v in logits[0].tolist()],
        'featureShape': list(feats.shape),
        'featuresFile': 'reference-features.f32',
        'versions': {p: version(p) for p in ['torch', 'torchvision', 'onnx', 'pillow', 'numpy']},
    })
    config = {
        'model': onnx_path.name,
        'featureTensor': 'features',
        'layout': 'tokens' if args.name == 'vit_b_16' else 'nchw',
        **({'cls': 'drop'} if args.name == 'vit_b_16' else {}),
        'logitsTensor': 'logits',
        'preprocess': PREPROCESS,
    }
    write_json(out / 'backbone.json', config)
    size_mb = onnx_path.stat().st_size / 1e6
    print(f'wrote {onnx_path} ({size_mb:.1f} MB; logits N×{logits.shape[1]}, features N×{"×".join(map(str, feats.shape))}; {time.time() - started:.0f} s)')
    print(f'wrote {photo_path}, {out / "reference.json"}, {out / "reference-features.f32"} and {out / "backbone.json"}'
          + (' (RANDOM weights: plumbing only)' if args.random else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
