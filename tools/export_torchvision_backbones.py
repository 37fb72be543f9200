"""Export the paper's backbones to ONNX for salf-cbm's presets (src/presets/presets.ts).

    python tools/export_torchvision_backbones.py resnet18_cub|resnet50|vit_b_16 [--out DIR] [--random]

- resnet18_cub: ResNet-18 fine-tuned on CUB-200, as Label-Free CBM uses it (pytorchcv's
  `resnet18_cub`; `pip install pytorchcv`), 200 classes;
- resnet50: torchvision's ResNet-50 with its ImageNet weights (IMAGENET1K_V1);
- vit_b_16: torchvision's ViT-B/16 with its ImageNet weights (IMAGENET1K_V1).

Writes DIR/model.onnx (default DIR: $SALF_CBM_CACHE, else ~/.cache/salf-cbm, /backbones/<name>/,
where the presets look) with input `pixels` N×3×224×224 (dynamic batch) and outputs `logits`
and `features` (CNNs: the last stage's map, N×C×7×7, the input of global pooling; ViT: the final
LayerNorm's tokens, N×197×768, CLS first), then DIR/backbone.json (the salf-cbm BackboneConfig,
written last). salf-cbm also finds `features` on its own (`salf-cbm tensors DIR/model.onnx`).

Preprocessing, as torchvision and LF-CBM use it: Resize(256) bilinear + CenterCrop(224),
ImageNet mean/std.

The weights are downloaded by torchvision / pytorchcv on first use, which needs the internet.
`--random` exports the same architectures with random weights (weights=None), to check the
export path only: such a model explains nothing.

Status: NOT RUN in this project's sandbox (no torch/torchvision installed, no internet for the
weights); the export path mirrors tools/export_efficientnet_lite0.py, which is run in CI.
"""
import argparse
import json
import os
from pathlib import Path

import torch

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PREPROCESS = {'resize': {'size': 224, 'mode': 'center', 'resize': 256}, 'interpolation': 'bilinear', 'mean': MEAN, 'std': STD}
NAMES = ('resnet18_cub', 'resnet50', 'vit_b_16')


class _ResNetExport(torch.nn.Module):
    """A torchvision-style ResNet returning (logits, last-stage feature map)."""

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


def build(name: str, random: bool) -> torch.nn.Module:
    if name == 'resnet18_cub':
        from pytorchcv.model_provider import get_model
        return _PytorchcvResNetExport(get_model('resnet18_cub', pretrained=not random))
    from torchvision import models
    if name == 'resnet50':
        return _ResNetExport(models.resnet50(weights=None if random else models.ResNet50_Weights.IMAGENET1K_V1))
    return _VitExport(models.vit_b_16(weights=None if random else models.ViT_B_16_Weights.IMAGENET1K_V1))


def default_out(name: str) -> Path:
    root = os.environ.get('SALF_CBM_CACHE') or os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'salf-cbm')
    return Path(root) / 'backbones' / name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('name', choices=NAMES)
    ap.add_argument('--out', type=Path, help='output folder (default: where the presets look)')
    ap.add_argument('--random', action='store_true', help='random weights (weights=None): checks the export path only')
    args = ap.parse_args()
    out = args.out or default_out(args.name)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build(args.name, args.random).eval()
    pixels = torch.zeros(1, 3, 224, 224)
    onnx_path = out / 'model.onnx'
    tmp = out / 'model.onnx.tmp'
    with torch.no_grad():
        torch.onnx.export(model, (pixels,), str(tmp), input_names=['pixels'], output_names=['logits', 'features'],
                          dynamic_axes={'pixels': {0: 'N'}, 'logits': {0: 'N'}, 'features': {0: 'N'}}, opset_version=17, dynamo=False)
    os.replace(tmp, onnx_path)
    config = {
        'model': str(onnx_path.resolve()),
        'featureTensor': 'features',
        'layout': 'tokens' if args.name == 'vit_b_16' else 'nchw',
        **({'cls': 'drop'} if args.name == 'vit_b_16' else {}),
        'logitsTensor': 'logits',
        'preprocess': PREPROCESS,
    }
    (out / 'backbone.json').write_text(json.dumps(config, indent=2) + '\n')
    print(f'wrote {onnx_path} and {out / "backbone.json"}' + (' (RANDOM weights: plumbing only)' if args.random else ''))


if __name__ == '__main__':
    main()
