"""Golden values for the zero-shot segmentation metrics (Chefer et al. 2021, ImageNet-segmentation).

This is a NumPy transcription of the reference evaluation (`imagenet_seg_eval.py` and
`utils/metrices.py` of hila-chefer/Transformer-Explainability), applied to maps already upsampled
to the mask's resolution:

  Res = (Res - Res.min()) / (Res.max() - Res.min())        # float32; a constant map gives NaN
  ret = Res.mean()
  Res_1 = Res > ret ; Res_0 = Res <= ret                     # NaN compares false: both 0
  Res_1_AP = Res ; Res_0_AP = 1 - Res ; NaN -> 0 everywhere  # so a constant map scores 0, 0
  output = [Res_0, Res_1] ; prediction = argmax over the 2 channels (ties: channel 0)
  correct, labeled = batch_pix_accuracy(output, mask)          # every pixel is labelled
  inter, union     = batch_intersection_union(output, mask, 2) # histogram of classes {0, 1}
  ap = nan_to_num(average_precision_score(onehot(mask) over 2 channels, output_AP))  # flattened
  pixAcc = sum(correct) / (eps + sum(labeled)); IoU = sum(inter) / (eps + sum(union)), per class;
  mIoU = mean(IoU); mAP = mean over images of ap; eps = np.spacing(1)

One deviation, shared with the TypeScript port: the threshold `ret` is the float64 mean of the
float32 map, rounded to float32 (torch accumulates in float32; the two differ by ~1e-7 relative).

Writes test/fixtures/seg-metrics-golden.json.
Usage: .venv/bin/python tools/golden_seg_metrics.py
"""
import json
import os
import warnings

import numpy as np
from sklearn.metrics import average_precision_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'seg-metrics-golden.json')
EPS = np.spacing(1, dtype=np.float64)


def normalise(res: np.ndarray) -> np.ndarray:
    res = res.astype(np.float32)
    with np.errstate(invalid='ignore', divide='ignore'):
        return (res - res.min()) / (res.max() - res.min())


def image_stats(res_map: np.ndarray, mask: np.ndarray) -> dict:
    res = normalise(res_map)
    ret = np.float32(res.astype(np.float64).mean())
    with np.errstate(invalid='ignore'):
        res_1 = (res > ret).astype(np.float32)
        res_0 = (res <= ret).astype(np.float32)
    res_1_ap = res.copy()
    res_0_ap = (np.float32(1) - res).astype(np.float32)
    for a in (res_1, res_0, res_1_ap, res_0_ap):
        a[np.isnan(a)] = 0
    output = np.stack([res_0, res_1])  # 2 x H x W
    output_ap = np.stack([res_0_ap, res_1_ap])
    target = mask.astype(np.int64)

    # batch_pix_accuracy
    predict = np.argmax(output, axis=0) + 1  # ties: first channel, as torch.max
    tgt = target + 1
    labeled = int(np.sum(tgt > 0))
    correct = int(np.sum((predict == tgt) * (tgt > 0)))

    # batch_intersection_union, nclass = 2
    predict = predict * (tgt > 0).astype(predict.dtype)
    intersection = predict * (predict == tgt)
    area_inter, _ = np.histogram(intersection, bins=2, range=(1, 2))
    area_pred, _ = np.histogram(predict, bins=2, range=(1, 2))
    area_lab, _ = np.histogram(tgt, bins=2, range=(1, 2))
    area_union = area_pred + area_lab - area_inter

    # get_ap_scores: one-hot target over the two channels, flattened together with the scores
    onehot = np.stack([(target == 0), (target == 1)]).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ap = float(np.nan_to_num(average_precision_score(onehot.reshape(-1), output_ap.reshape(-1))))
    return {
        'correct': correct, 'labeled': labeled,
        'inter': [int(v) for v in area_inter], 'union': [int(v) for v in area_union],
        'ap': ap,
    }


def summary(stats: list) -> dict:
    correct = sum(s['correct'] for s in stats)
    labeled = sum(s['labeled'] for s in stats)
    inter = np.sum([s['inter'] for s in stats], axis=0).astype(np.int64)
    union = np.sum([s['union'] for s in stats], axis=0).astype(np.int64)
    pix_acc = np.float64(1.0) * correct / (EPS + labeled)
    iou = np.float64(1.0) * inter / (EPS + union)
    return {
        'pixelAccuracy': float(pix_acc), 'iou': [float(v) for v in iou], 'mIoU': float(iou.mean()),
        'mAP': float(np.mean([s['ap'] for s in stats])), 'images': len(stats),
    }


def main() -> None:
    rng = np.random.default_rng(20210101)
    cases = []

    def add(name, m, mask):
        m = np.asarray(m, np.float32)
        mask = np.asarray(mask, np.uint8)
        assert m.shape == mask.shape
        cases.append({'name': name, 'height': m.shape[0], 'width': m.shape[1],
                      'map': [float(v) for v in m.reshape(-1)], 'mask': [int(v) for v in mask.reshape(-1)],
                      'expected': image_stats(m, mask)})

    for i in range(6):
        h, w = int(rng.integers(3, 17)), int(rng.integers(3, 17))
        m = rng.normal(size=(h, w)) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)
        mask = (rng.uniform(size=(h, w)) < rng.uniform(0.1, 0.7)).astype(np.uint8)
        add(f'random-{i}', m, mask)
    # A smooth map with a blob that overlaps the mask's object.
    yy, xx = np.mgrid[0:16, 0:20]
    blob = np.exp(-((yy - 7) ** 2 + (xx - 9) ** 2) / 20.0)
    add('blob', blob, ((yy - 8) ** 2 + (xx - 10) ** 2 < 18).astype(np.uint8))
    # Ties: quantised values (many equal scores, and 1 - m equal to m at 0.5).
    q = np.round(rng.uniform(size=(9, 11)) * 4) / 4
    add('ties', q, (rng.uniform(size=(9, 11)) < 0.4).astype(np.uint8))
    add('constant-map', np.full((6, 7), 3.25), (rng.uniform(size=(6, 7)) < 0.5).astype(np.uint8))
    add('constant-map-empty-mask', np.full((5, 5), -1.0), np.zeros((5, 5)))
    add('empty-mask', rng.normal(size=(8, 9)), np.zeros((8, 9)))
    add('full-mask', rng.normal(size=(7, 6)), np.ones((7, 6)))
    add('two-values', np.where(rng.uniform(size=(10, 10)) < 0.3, 2.0, -1.0), (rng.uniform(size=(10, 10)) < 0.3))
    add('single-pixel', np.array([[0.7]]), np.array([[1]]))

    stats = [c['expected'] for c in cases]

    # average_precision_score on its own, including ties and degenerate labels.
    ap_cases = []
    for i, (n, tie) in enumerate([(50, False), (200, True), (7, True), (30, False)]):
        s = rng.uniform(size=n).astype(np.float32)
        if tie:
            s = (np.round(s * 5) / 5).astype(np.float32)
        y = (rng.uniform(size=n) < 0.35).astype(np.int64)
        if i == 3:
            y[:] = 1
        ap_cases.append({'name': f'ap-{i}', 'scores': [float(v) for v in s], 'labels': [int(v) for v in y],
                         'ap': float(average_precision_score(y, s))})
    y0 = np.zeros(10, np.int64)
    s0 = rng.uniform(size=10).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ap0 = float(np.nan_to_num(average_precision_score(y0, s0)))
    ap_cases.append({'name': 'ap-no-positives (nan_to_num)', 'scores': [float(v) for v in s0], 'labels': [0] * 10, 'ap': ap0})

    golden = {
        'source': 'tools/golden_seg_metrics.py (reference logic: Transformer-Explainability imagenet_seg_eval.py + utils/metrices.py)',
        'sklearn': __import__('sklearn').__version__,
        'cases': cases,
        'summary': summary(stats),
        'apCases': ap_cases,
    }
    with open(OUT, 'w') as f:
        json.dump(golden, f)
        f.write('\n')
    print(f'wrote {OUT}: {len(cases)} maps, summary {golden["summary"]}')


if __name__ == '__main__':
    main()
