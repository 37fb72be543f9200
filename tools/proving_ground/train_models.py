"""Trains the proving ground's two small models on a generated world and exports them to ONNX.

(a) classifier/: the black box to be explained, a small CNN trained on the class rule, exported
    as model.onnx with input `pixels` (N x 3 x 224 x 224) and outputs `logits` (N x L) and
    `features` (N x 96 x 7 x 7, the last convolutional map), plus backbone.json (how to use it
    as a SALF-CBM backbone).
(b) clip/: a CLIP-like dual encoder trained contrastively on captions of red-circled objects
    (and of whole images), exported in the Hugging Face CLIP local-folder layout:
    config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json,
    onnx/vision_model.onnx (pixel_values -> image_embeds) and onnx/text_model.onnx
    (input_ids, attention_mask -> text_embeds).

Deterministic on CPU for a given world, seed and thread count. See README.md in this folder.

Usage: .venv/bin/python tools/proving_ground/train_models.py --world DIR --out DIR [options]
"""
import argparse
import json
import math
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_models import Classifier, DualEncoder  # noqa: E402
from pg_tokenizer import MAX_TOKENS, Tokenizer  # noqa: E402

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SIZE = 224
RADIUS = 32  # the paper's circle radius at 224 px
GRID = 7

FILLERS = ['a', 'an', 'the', 'photo', 'of', 'image', 'picture', 'object', 'shape', 'thing', 'background',
           'nothing', 'empty', 'plain', 'with', 'pattern']
TEMPLATES = ['{}', 'a {}', 'a photo of a {}', 'an image of a {}', 'a picture of a {}', 'the {}']
BACKGROUND_CAPTIONS = ['background', 'a plain background', 'nothing', 'an empty background', 'a photo of nothing']


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- the world

class Split:
    """One split held in memory: uint8 images N x S x S x 3, label masks N x S x S, annotations."""

    def __init__(self, world_dir: str, entries: list, limit: int = 0):
        if limit:
            entries = entries[:limit]
        self.entries = entries
        n = len(entries)
        self.images = np.zeros((n, SIZE, SIZE, 3), np.uint8)
        self.labels = np.zeros((n, SIZE, SIZE), np.uint8)
        self.annotations = []
        for i, e in enumerate(entries):
            self.images[i] = np.asarray(Image.open(os.path.join(world_dir, e['image'])).convert('RGB'))
            self.labels[i] = np.asarray(Image.open(os.path.join(world_dir, e['mask'])))
            with open(os.path.join(world_dir, e['annotation'])) as f:
                self.annotations.append(json.load(f))
        self.classes = np.array([e['classIndex'] for e in entries], np.int64)

    def __len__(self):
        return len(self.entries)


def load_world(world_dir: str, limits: dict):
    with open(os.path.join(world_dir, 'world.json')) as f:
        world = json.load(f)
    if world.get('format') != 'salf-cbm-proving-ground':
        raise SystemExit(f'{world_dir}/world.json is not a proving-ground world')
    if world['size'] != SIZE:
        raise SystemExit(f'the models take {SIZE} px images; this world has {world["size"]} px')
    with open(os.path.join(world_dir, 'index.json')) as f:
        index = json.load(f)
    splits = {name: Split(world_dir, index[name], limits.get(name, 0)) for name in ['train', 'val', 'test', 'shifted']}
    return world, splits


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 N x S x S x 3 -> normalised float N x 3 x S x S."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(img: np.ndarray, lab: np.ndarray, k: int):
    """One of the 8 flips/rotations (the class rule and every concept are invariant to them)."""
    if k & 4:
        img, lab = img[:, ::-1], lab[:, ::-1]
    r = k & 3
    return np.rot90(img, r), np.rot90(lab, r)


def grid_centres(size=SIZE, g=GRID, r=RADIUS):
    span = size - 1 - 2 * r
    return [int(math.floor(r + i * span / (g - 1) + 0.5)) for i in range(g)]


# ---------------------------------------------------------------- (a) classifier

def evaluate_classifier(model, split: Split, batch=128) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(split), batch):
            logits, _ = model(to_pixels(split.images[s:s + batch]))
            correct += int((logits.argmax(1).numpy() == split.classes[s:s + batch]).sum())
    return correct / max(1, len(split))


def concept_presence(split: Split, world) -> torch.Tensor:
    """N x M: whether some visible object of each image carries concept word m."""
    kinds = [(c['name'], c['kind']) for c in world['concepts']]
    return torch.tensor([[float(any(o['area'] > 0 and o[kind] == name for o in a['objects'])) for name, kind in kinds]
                         for a in split.annotations])


def concept_cover_map(lab: np.ndarray, objects: list, world) -> np.ndarray:
    """M x 7 x 7: the share of each feature-map cell's 32 x 32 pixels that concept m covers."""
    cell = SIZE // GRID
    share = np.stack([(lab == k + 1).reshape(GRID, cell, GRID, cell).mean(axis=(1, 3)) for k in range(len(objects))]) \
        if objects else np.zeros((0, GRID, GRID))
    out = np.zeros((len(world['concepts']), GRID, GRID), np.float32)
    for m, c in enumerate(world['concepts']):
        for k, o in enumerate(objects):
            if o[c['kind']] == c['name']:
                out[m] += share[k]
    return out


def train_classifier(splits, world, args, rng: np.random.Generator):
    """Cross-entropy on the class rule. With `--presence-weight` above 0, an auxiliary head also
    predicts which concept words the image shows (binary cross-entropy): a linear layer on the
    pooled features, or with `--presence-map` a 1x1 convolution predicting each cell's share of
    every concept. It stands in for the broad pretraining that gives real backbones features for
    more than their classes; the head is dropped from the export."""
    model = Classifier(len(world['classes']))
    train = splits['train']
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = steps_per_epoch * args.cls_epochs
    params = list(model.parameters())
    presence, aux = None, None
    channels, n_concepts = model.head.in_features, len(world['concepts'])
    if args.presence_weight > 0:
        presence = None if args.presence_map else concept_presence(train, world)
        aux = torch.nn.Conv2d(channels, n_concepts, 1) if args.presence_map else torch.nn.Linear(channels, n_concepts)
        params += list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=total, pct_start=0.15)
    t0 = time.time()
    best, best_state = -1.0, None
    for epoch in range(args.cls_epochs):
        model.train()
        order = rng.permutation(len(train))
        for s in range(0, len(order), args.batch):
            idx = order[s:s + args.batch]
            ks = rng.integers(0, 8, len(idx))
            pairs = [augment(train.images[i], train.labels[i], k) for i, k in zip(idx, ks)]
            imgs = np.stack([img for img, _ in pairs])
            logits, features = model(to_pixels(np.ascontiguousarray(imgs)))
            loss = F.cross_entropy(logits, torch.from_numpy(train.classes[idx]))
            if aux is not None and args.presence_map:
                cover = torch.from_numpy(np.stack([concept_cover_map(np.ascontiguousarray(lab), train.annotations[i]['objects'], world)
                                                   for (_, lab), i in zip(pairs, idx)]))
                loss = loss + args.presence_weight * F.binary_cross_entropy_with_logits(aux(features), cover)
            elif aux is not None:
                pooled = features.mean(dim=(2, 3))
                loss = loss + args.presence_weight * F.binary_cross_entropy_with_logits(aux(pooled), presence[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate_classifier(model, splits['val'])
        log(f'classifier epoch {epoch + 1}/{args.cls_epochs}: loss {loss.item():.3f}, val acc {acc:.3f} '
            f'({time.time() - t0:.0f} s)')
        if acc >= best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    metrics = {name: evaluate_classifier(model, splits[name]) for name in ['train', 'val', 'test', 'shifted']}
    log('classifier accuracy: ' + ', '.join(f'{k} {v:.3f}' for k, v in metrics.items()))
    return model, metrics


# ---------------------------------------------------------------- (a') broad-features classifier

def attribute_triples(world) -> list:
    """Every (shape, colour, pattern) combination of the world, in vocabulary order."""
    return [(s, c, p) for s in world['shapes'] for c in world['colours'] for p in world['patterns']]


def triple_cover_map(lab: np.ndarray, objects: list, triple_index: dict) -> np.ndarray:
    """(T + 1) x 7 x 7: the share of each feature-map cell's 32 x 32 pixels covered by an object
    of each attribute triple; the last channel is the background's share (each cell sums to 1)."""
    cell = SIZE // GRID
    out = np.zeros((len(triple_index) + 1, GRID, GRID), np.float32)
    share = np.stack([(lab == k).reshape(GRID, cell, GRID, cell).mean(axis=(1, 3)) for k in range(len(objects) + 1)])
    out[-1] = share[0]
    for k, o in enumerate(objects):
        out[triple_index[(o['shape'], o['colour'], o['pattern'])]] += share[k + 1]
    return out


def pooled_features(trunk, split: Split, batch=128) -> torch.Tensor:
    """N x C: the frozen trunk's feature map averaged over the 7 x 7 cells."""
    out = []
    with torch.no_grad():
        for s in range(0, len(split), batch):
            out.append(trunk(to_pixels(split.images[s:s + batch])).mean(dim=(2, 3)))
    return torch.cat(out)


def train_broad_classifier(splits, world, args, rng: np.random.Generator):
    """A black box with broad features, built the way ImageNet backbones are reused.

    1. Pretraining on a broad dense task: for every 32-px cell of the 7x7 feature map, the
       distribution of what covers it over all shape x colour x pattern triples of the world
       (108) plus background, as soft-label cross-entropy through a 1x1 convolution. The
       features must say, for each cell, the colour, shape and pattern of every object there,
       distractors included, which is what a backbone trained on many classes knows and the
       8-class rule alone does not ask for; the rule's classes are 8 of the 36 shape-colour
       pairs and get no special weight.
    2. The trunk is frozen (batch norm in inference mode) and only a linear layer on the
       average-pooled map is trained on the 8 classes (cross-entropy, full batch, the weights of
       the best validation accuracy kept). The pretraining head is dropped from the export."""
    triples = attribute_triples(world)
    triple_index = {t: i for i, t in enumerate(triples)}
    model = Classifier(len(world['classes']))
    train = splits['train']
    dense = torch.nn.Conv2d(model.head.in_features, len(triples) + 1, 1)
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = steps_per_epoch * args.broad_epochs
    params = list(model.trunk.parameters()) + list(dense.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=total, pct_start=0.15)
    t0 = time.time()
    for epoch in range(args.broad_epochs):
        model.train()
        order = rng.permutation(len(train))
        for s in range(0, len(order), args.batch):
            idx = order[s:s + args.batch]
            ks = rng.integers(0, 8, len(idx))
            pairs = [augment(train.images[i], train.labels[i], k) for i, k in zip(idx, ks)]
            imgs = np.ascontiguousarray(np.stack([img for img, _ in pairs]))
            target = torch.from_numpy(np.stack([
                triple_cover_map(np.ascontiguousarray(lab), train.annotations[i]['objects'], triple_index)
                for (_, lab), i in zip(pairs, idx)]))
            loss = -(target * F.log_softmax(dense(model.trunk(to_pixels(imgs))), dim=1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f'broad pretraining epoch {epoch + 1}/{args.broad_epochs}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)')
    model.eval()
    for p in model.trunk.parameters():
        p.requires_grad_(False)
    x_train, x_val = pooled_features(model.trunk, train), pooled_features(model.trunk, splits['val'])
    y_train, y_val = torch.from_numpy(train.classes), torch.from_numpy(splits['val'].classes)
    mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    head = torch.nn.Linear(x_train.shape[1], len(world['classes']))
    opt = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-4)
    best, best_state = -1.0, None
    for step in range(1, args.head_steps + 1):
        loss = F.cross_entropy(head((x_train - mean) / std), y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.head_steps:
            with torch.no_grad():
                acc = float((head((x_val - mean) / std).argmax(1) == y_val).float().mean())
            if acc >= best:
                best, best_state = acc, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    # Fold the standardisation into the linear layer: logits = W ((x - mean) / std) + b.
    with torch.no_grad():
        model.head.weight.copy_(head.weight / std)
        model.head.bias.copy_(head.bias - (head.weight / std) @ mean)
    metrics = {name: evaluate_classifier(model, splits[name]) for name in ['train', 'val', 'test', 'shifted']}
    log('broad classifier accuracy (frozen trunk, linear head): ' + ', '.join(f'{k} {v:.3f}' for k, v in metrics.items()))
    return model, metrics


# ---------------------------------------------------------------- (b) CLIP-like dual encoder

ATTRS = ['colour', 'pattern', 'shape']


def circled_objects(lab: np.ndarray, objects: list, cx: int, cy: int, r: int):
    """Objects that count as inside a circle: at least half of the object inside the disc, or the
    object filling at least a fifth of the disc. Returns their indices, largest coverage first."""
    x0, x1 = max(0, cx - r), min(SIZE, cx + r + 1)
    y0, y1 = max(0, cy - r), min(SIZE, cy + r + 1)
    ys, xs = np.ogrid[y0:y1, x0:x1]
    disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    cover = np.bincount(lab[y0:y1, x0:x1][disc], minlength=len(objects) + 1)
    disc_area = math.pi * r * r
    inside = [k for k in range(len(objects))
              if cover[k + 1] > 0 and (cover[k + 1] >= 0.5 * objects[k]['area'] or cover[k + 1] >= 0.2 * disc_area)]
    inside.sort(key=lambda k: -cover[k + 1])
    return inside


def augment_point(x: float, y: float, k: int):
    """Where pixel (x, y) goes under augment(..., k)."""
    if k & 4:
        x = SIZE - 1 - x
    for _ in range(k & 3):
        x, y = y, SIZE - 1 - x
    return x, y


def caption_for(obj, rng: np.random.Generator):
    """A random caption of a subset of an object's attributes, and that subset."""
    u = rng.random()
    if u < 0.3:
        attrs = list(ATTRS)
    elif u < 0.7:
        attrs = [ATTRS[rng.integers(0, 3)]]
    else:
        drop = rng.integers(0, 3)
        attrs = [a for i, a in enumerate(ATTRS) if i != drop]
    words = ' '.join(obj[a] for a in attrs)
    template = TEMPLATES[rng.integers(0, len(TEMPLATES))]
    return template.format(words), {a: obj[a] for a in attrs}


def add_caption(objs: list, inside: list, rng: np.random.Generator, present: list, captions: list, wanted: list) -> None:
    """Records a prompted image's circled objects and draws its caption (the first circled
    object's, or a background caption when the circle holds none)."""
    present.append([{a: objs[k][a] for a in ATTRS} for k in inside])
    if inside:
        text, want = caption_for(objs[inside[0]], rng)
    else:
        text, want = BACKGROUND_CAPTIONS[rng.integers(0, len(BACKGROUND_CAPTIONS))], None
    captions.append(text)
    wanted.append(want)


def caption_targets(present: list, wanted: list) -> torch.Tensor:
    """target[a, b] = 1 when caption b describes image a: some circled object of a has every
    attribute caption b names (a background caption matches images with nothing circled)."""
    n = len(present)
    target = np.zeros((n, n), np.float32)
    for a in range(n):
        for b in range(n):
            want = wanted[b]
            if want is None:
                target[a, b] = float(len(present[a]) == 0)
            else:
                target[a, b] = float(any(all(o[k] == v for k, v in want.items()) for o in present[a]))
    return torch.from_numpy(target)


def circle_coverage(lab: np.ndarray, n_objects: int, cx: int, cy: int, r: int, sigma: float) -> np.ndarray:
    """Per object, the share of the circle's disc it covers, each pixel weighted by a Gaussian
    of the distance to the centre (standard deviation sigma * r): largest for a circle centred on
    the object."""
    x0, x1 = max(0, cx - r), min(SIZE, cx + r + 1)
    y0, y1 = max(0, cy - r), min(SIZE, cy + r + 1)
    ys, xs = np.ogrid[y0:y1, x0:x1]
    d2 = (xs - cx) ** 2 + (ys - cy) ** 2
    s2 = 2 * (sigma * r) ** 2
    w = np.exp(-d2 / s2) * (d2 <= r * r)
    total = np.exp(-((np.arange(-r, r + 1)[:, None]) ** 2 + (np.arange(-r, r + 1)[None, :]) ** 2) / s2)
    total = float((total * ((np.arange(-r, r + 1)[:, None]) ** 2 + (np.arange(-r, r + 1)[None, :]) ** 2 <= r * r)).sum())
    cover = np.bincount(lab[y0:y1, x0:x1].ravel(), weights=w.ravel(), minlength=n_objects + 1)
    return cover[1:n_objects + 1] / total


def clip_batch_single(split: Split, rng: np.random.Generator, batch: int):
    """A batch of prompted images, one prompt per image (`--group 1`, the first committed
    model's sampling), with their captions and the multi-positive target matrix."""
    imgs, captions, wanted, present = [], [], [], []
    for _ in range(batch):
        i = int(rng.integers(0, len(split)))
        k_aug = int(rng.integers(0, 8))
        img, lab = augment(split.images[i], split.labels[i], k_aug)
        img = np.ascontiguousarray(img)
        lab = np.ascontiguousarray(lab)
        objs = split.annotations[i]['objects']
        u = rng.random()
        if u < 0.15:  # whole image: every object present, the largest one described
            inside = [k for k in range(len(objs)) if objs[k]['area'] > 0]
            inside.sort(key=lambda k: -objs[k]['area'])
        else:
            r = RADIUS if rng.random() < 0.75 else int(rng.integers(24, 41))
            if u < 0.5:  # a grid position, as SALF-CBM prompts
                cs = grid_centres()
                cx, cy = cs[rng.integers(0, GRID)], cs[rng.integers(0, GRID)]
            elif u < 0.9:  # near an object's centre
                o = objs[int(rng.integers(0, len(objs)))]
                x, y = augment_point(o['cx'] - 0.5, o['cy'] - 0.5, k_aug)
                cx = int(np.clip(round(x + rng.normal(0, 6)), 0, SIZE - 1))
                cy = int(np.clip(round(y + rng.normal(0, 6)), 0, SIZE - 1))
            else:
                cx, cy = int(rng.integers(0, SIZE)), int(rng.integers(0, SIZE))
            inside = circled_objects(lab, objs, cx, cy, r)
            cv2.circle(img, (cx, cy), r, (255, 0, 0), 2, cv2.LINE_8)
        imgs.append(img)
        add_caption(objs, inside, rng, present, captions, wanted)
    target = caption_targets(present, wanted)
    return np.stack(imgs), captions, target, present


def clip_batch(split: Split, rng: np.random.Generator, batch: int, group: int, concepts: list, kinds: dict,
               sigma: float, whole: float):
    """A batch of prompted images with their captions and the multi-positive target matrix.

    The batch holds batch/group images, each prompted `group` times (the first prompt near an
    object's centre, the others mostly at grid centres), so that the same image circled elsewhere
    is a hard negative. Also returns, per prompt and concept word, the concept's centre-weighted
    coverage of the circle (-1 for prompts without a circle) for the in-image loss."""
    imgs, captions, wanted, present = [], [], [], []
    coverage = np.zeros((batch, len(concepts)), np.float32)
    cs = grid_centres()
    for j in range(batch // group):
        i = int(rng.integers(0, len(split)))
        k_aug = int(rng.integers(0, 8))
        img0, lab = augment(split.images[i], split.labels[i], k_aug)
        lab = np.ascontiguousarray(lab)
        objs = split.annotations[i]['objects']
        visible = [k for k in range(len(objs)) if objs[k]['area'] > 0]
        for q in range(group):
            b = j * group + q
            img = np.ascontiguousarray(img0)
            u = rng.random() if q >= min(2, group - 1) else 0.5  # the first one or two: near objects
            if u < whole:  # whole image: every object present, the largest one described
                inside = sorted(visible, key=lambda k: -objs[k]['area'])
                coverage[b] = -1
            else:
                r = RADIUS if rng.random() < 0.75 else int(rng.integers(24, 41))
                if u < whole + 0.08:  # anywhere
                    cx, cy = int(rng.integers(0, SIZE)), int(rng.integers(0, SIZE))
                elif u < whole + 0.52:  # near an object's centre (the second prompt: a smaller object's)
                    pool = visible
                    if q == 1 and len(visible) > 1:
                        pool = sorted(visible, key=lambda k: -objs[k]['area'])[1:]
                    o = objs[pool[int(rng.integers(0, len(pool)))]]
                    x, y = augment_point(o['cx'] - 0.5, o['cy'] - 0.5, k_aug)
                    cx = int(np.clip(round(x + rng.normal(0, 6)), 0, SIZE - 1))
                    cy = int(np.clip(round(y + rng.normal(0, 6)), 0, SIZE - 1))
                else:  # a grid position, as SALF-CBM prompts
                    cx, cy = cs[rng.integers(0, GRID)], cs[rng.integers(0, GRID)]
                inside = circled_objects(lab, objs, cx, cy, r)
                cov = circle_coverage(lab, len(objs), cx, cy, r, sigma)
                for m, c in enumerate(concepts):
                    coverage[b, m] = sum(cov[k] for k in range(len(objs)) if objs[k][kinds[c]] == c)
                cv2.circle(img, (cx, cy), r, (255, 0, 0), 2, cv2.LINE_8)
            imgs.append(img)
            add_caption(objs, inside, rng, present, captions, wanted)
    target = caption_targets(present, wanted)
    return np.stack(imgs), captions, target, present, torch.from_numpy(coverage)


def in_image_loss(logits: torch.Tensor, coverage: torch.Tensor, group: int) -> torch.Tensor:
    """For each image and each concept word it shows, a cross-entropy over the image's circles:
    the target is spread over the circles in proportion to the concept's coverage of them, so
    that for a fixed concept the circle on the object scores above circles elsewhere in the
    same image (what the pointing game asks). `logits`: prompts x concepts."""
    n, m = logits.shape
    lg = logits.reshape(n // group, group, m)
    cov = coverage.reshape(n // group, group, m)
    circled = cov >= 0
    lg = lg.masked_fill(~circled, -1e4)
    t = cov.clamp(min=0)
    tot = t.sum(1, keepdim=True)
    valid = (tot[:, 0, :] > 1e-3) & (circled.sum(1) >= 2)
    t = t / tot.clamp(min=1e-6)
    ce = -(t * F.log_softmax(lg, 1)).sum(1)
    return (ce * valid).sum() / valid.sum().clamp(min=1)


def multi_positive_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy with several positives: each image's (row's) target is
    spread evenly over the texts it matches, and each text's (column's) over the images it
    matches; texts without any match in the batch only act as negatives."""
    rows = target / target.sum(1, keepdim=True).clamp(min=1)
    li = -(rows * F.log_softmax(logits, 1)).sum(1).mean()
    has = target.sum(0) > 0
    cols = target[:, has] / target[:, has].sum(0, keepdim=True)
    lt = -(cols * F.log_softmax(logits[:, has], 0)).sum(0).mean()
    return (li + lt) / 2


def concept_targets(present: list, concepts: list, kinds: dict) -> torch.Tensor:
    """N x (M + 1): whether an object with concept m is present; last column: nothing present."""
    t = np.zeros((len(present), len(concepts) + 1), np.float32)
    for i, objs in enumerate(present):
        for m, c in enumerate(concepts):
            t[i, m] = float(any(o[kinds[c]] == c for o in objs))
        t[i, -1] = float(len(objs) == 0)
    return torch.from_numpy(t)


def text_tensors(tok: Tokenizer, texts):
    ids, mask = tok.batch(texts)
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(mask, dtype=torch.int64)


def evaluate_clip(model, tok: Tokenizer, split: Split, world, n_images: int):
    """Grid prompting as SALF-CBM does it: for every grid circle of the first images, the
    similarity of each concept word; per concept, the ROC AUC of that similarity against 'an
    object with the concept is inside the circle', and top-1 accuracy of each attribute group
    on circles whose dominant object is known."""
    model.eval()
    concepts = [c['name'] for c in world['concepts']]
    kinds = {c['name']: c['kind'] for c in world['concepts']}
    with torch.no_grad():
        t = F.normalize(model.text(*text_tensors(tok, concepts)), dim=1)
    cs = grid_centres()
    sims, truth, dominant = [], [], []
    hits, hits_node = [], []
    for i in range(min(n_images, len(split))):
        objs = split.annotations[i]['objects']
        batch = []
        for cy in cs:
            for cx in cs:
                img = split.images[i].copy()
                inside = circled_objects(split.labels[i], objs, cx, cy, RADIUS)
                cv2.circle(img, (cx, cy), RADIUS, (255, 0, 0), 2, cv2.LINE_8)
                batch.append(img)
                truth.append([any(objs[k][kinds[c]] == c for k in inside) for c in concepts])
                dominant.append(objs[inside[0]] if inside else None)
        with torch.no_grad():
            v = F.normalize(model.vision(to_pixels(np.stack(batch))), dim=1)
        s_img = (v @ t.t()).numpy()
        sims.append(s_img)
        # Pointing game as the demo scores it: the maximum of a concept's map, upsampled with
        # the grid values at the circle centres (constant beyond the outer ones, first maximum
        # in row-major order), inside the concept's mask; `node`: at the argmax circle's centre.
        for m, c in enumerate(concepts):
            ks = [k + 1 for k, o in enumerate(objs) if o['area'] > 0 and o[kinds[c]] == c]
            if not ks:
                continue
            h, w = divmod(int(np.argmax(s_img[:, m])), GRID)
            hits.append(split.labels[i][0 if h == 0 else cs[h], 0 if w == 0 else cs[w]] in ks)
            hits_node.append(split.labels[i][cs[h], cs[w]] in ks)
    sims = np.concatenate(sims)
    truth = np.array(truth)
    aucs = {}
    for m, c in enumerate(concepts):
        pos, neg = sims[truth[:, m], m], sims[~truth[:, m], m]
        if len(pos) and len(neg):
            aucs[c] = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    acc = {}
    for kind in ['shape', 'colour', 'pattern']:
        idx = [m for m, c in enumerate(concepts) if kinds[c] == kind]
        rows = [j for j, d in enumerate(dominant) if d is not None]
        pred = [concepts[idx[int(np.argmax(sims[j, idx]))]] for j in rows]
        acc[kind] = float(np.mean([p == dominant[j][kind] for p, j in zip(pred, rows)]))
    return {'auc': aucs, 'mean_auc': float(np.mean(list(aucs.values()))), 'accuracy': acc,
            'pointing': float(np.mean(hits)), 'pointing_node': float(np.mean(hits_node))}


def train_clip(splits, world, tok: Tokenizer, args, rng: np.random.Generator):
    """Contrastive training. Each batch's texts are its own captions (one per image,
    describing the circled object or, without a circle, the largest object) plus one text per
    concept word and 'background'; an image matches a text when an object inside its circle
    has every attribute the text names."""
    model = DualEncoder(len(tok.vocab), args.embed_dim, global_mean=not args.no_global_mean, width=args.clip_width,
                        channels=args.clip_channels)
    concepts = [c['name'] for c in world['concepts']]
    kinds = {c['name']: c['kind'] for c in world['concepts']}
    fixed = concepts + ['background']
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.clip_steps, pct_start=0.1)
    t0 = time.time()
    for step in range(1, args.clip_steps + 1):
        model.train()
        if args.group > 1:
            imgs, captions, target, present, coverage = clip_batch(splits['train'], rng, args.batch, args.group,
                                                                   concepts, kinds, args.cover_sigma, args.whole_image)
        else:
            imgs, captions, target, present = clip_batch_single(splits['train'], rng, args.batch)
        target = torch.cat([target, concept_targets(present, concepts, kinds)], dim=1)
        logits = model.similarity(to_pixels(imgs), *text_tensors(tok, captions + fixed))
        loss = multi_positive_loss(logits, target)
        if args.local_weight > 0 and args.group > 1:
            nb = len(captions)
            loss = loss + args.local_weight * in_image_loss(logits[:, nb:nb + len(concepts)], coverage, args.group)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % args.log_every == 0 or step == args.clip_steps:
            log(f'clip step {step}/{args.clip_steps}: loss {loss.item():.3f}, '
                f'scale {model.logit_scale.exp().item():.1f} ({time.time() - t0:.0f} s)')
    metrics = {name: evaluate_clip(model, tok, splits[name], world, args.eval_images) for name in ['val', 'shifted']}
    for name, m in metrics.items():
        log(f'clip {name}: mean concept AUC {m["mean_auc"]:.3f}; pointing game {m["pointing"]:.3f} '
            f'(at the circle centre {m["pointing_node"]:.3f}); attribute accuracy ' +
            ', '.join(f'{k} {v:.3f}' for k, v in m['accuracy'].items()))
    return model, metrics


# ---------------------------------------------------------------- export

class _ClassifierExport(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model(pixels)


class _TextExport(torch.nn.Module):
    def __init__(self, text):
        super().__init__()
        self.text = text

    def forward(self, input_ids, attention_mask):
        return self.text(input_ids, attention_mask)


def onnx_export(module, inputs, path, input_names, output_names, dynamic_axes):
    module.eval()
    torch.onnx.export(module, inputs, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=17, dynamo=False, do_constant_folding=True)


def export_classifier(model, world, out_dir: str, metrics: dict, args, pretraining: dict | None = None) -> None:
    os.makedirs(out_dir, exist_ok=True)
    x = to_pixels(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    onnx_export(_ClassifierExport(model), (x,), os.path.join(out_dir, 'model.onnx'), ['pixels'],
                ['logits', 'features'], {'pixels': {0: 'batch'}, 'logits': {0: 'batch'}, 'features': {0: 'batch'}})
    backbone = {
        'model': 'model.onnx',
        'featureTensor': 'features',
        'layout': 'nchw',
        'logitsTensor': 'logits',
        'preprocess': {'resize': {'size': SIZE, 'mode': 'stretch'}, 'mean': CLIP_MEAN, 'std': CLIP_STD},
        'classes': [c['name'] for c in world['classes']],
        'trainedOn': {'worldSeed': world['seed'], 'trainImages': world['counts']['train'], 'seed': args.seed},
        'accuracy': metrics,
    }
    if pretraining:
        backbone['trainedOn']['pretraining'] = pretraining
    with open(os.path.join(out_dir, 'backbone.json'), 'w') as f:
        json.dump(backbone, f, indent=2)
        f.write('\n')


def export_clip(model, tok: Tokenizer, out_dir: str, metrics: dict, args) -> None:
    os.makedirs(os.path.join(out_dir, 'onnx'), exist_ok=True)
    x = to_pixels(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    onnx_export(model.vision, (x,), os.path.join(out_dir, 'onnx', 'vision_model.onnx'), ['pixel_values'],
                ['image_embeds'], {'pixel_values': {0: 'batch_size'}, 'image_embeds': {0: 'batch_size'}})
    ids, mask = text_tensors(tok, ['a blue star'])
    onnx_export(_TextExport(model.text), (ids, mask), os.path.join(out_dir, 'onnx', 'text_model.onnx'),
                ['input_ids', 'attention_mask'], ['text_embeds'],
                {'input_ids': {0: 'batch_size', 1: 'sequence_length'},
                 'attention_mask': {0: 'batch_size', 1: 'sequence_length'}, 'text_embeds': {0: 'batch_size'}})
    config = {
        '_comment': 'Proving-ground CLIP: a small dual encoder trained on the synthetic world by '
                    'tools/proving_ground/train_models.py, with red-circle prompts.',
        'architectures': ['CLIPModel'],
        'model_type': 'clip',
        'projection_dim': args.embed_dim,
        'logit_scale_init_value': 2.6592,
        'initializer_factor': 1.0,
        'text_config': {'model_type': 'clip_text_model', 'vocab_size': len(tok.vocab),
                        'hidden_size': model.text.token_embedding.embedding_dim,
                        'max_position_embeddings': MAX_TOKENS, 'num_hidden_layers': 0,
                        'bos_token_id': tok.start_id, 'eos_token_id': tok.end_id, 'pad_token_id': tok.end_id,
                        'projection_dim': args.embed_dim},
        'vision_config': {'model_type': 'clip_vision_model', 'image_size': SIZE, 'patch_size': 8, 'num_channels': 3,
                          'hidden_size': args.clip_channels, 'num_hidden_layers': 0, 'projection_dim': args.embed_dim},
        'proving_ground': {'seed': args.seed, 'circle_radius': RADIUS, 'metrics': metrics},
    }
    preprocessor = {
        'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': SIZE},
        'resample': 3, 'do_center_crop': True, 'crop_size': {'height': SIZE, 'width': SIZE}, 'do_rescale': True,
        'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': CLIP_MEAN, 'image_std': CLIP_STD,
        'do_convert_rgb': True,
    }
    for name, content in [('config.json', config), ('preprocessor_config.json', preprocessor),
                          ('tokenizer.json', tok.tokenizer_json()), ('tokenizer_config.json', tok.tokenizer_config())]:
        with open(os.path.join(out_dir, name), 'w') as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
            f.write('\n')


# ---------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--world', required=True, help='a world written by generate_world.ts (224 px)')
    p.add_argument('--out', required=True, help='output folder: gets classifier/ and clip/')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (results depend on it)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--cls-epochs', type=int, default=16)
    p.add_argument('--presence-weight', type=float, default=0.0,
                   help='classifier: weight of the auxiliary loss predicting which concept words an image shows '
                        '(0: the class rule only)')
    p.add_argument('--presence-map', action='store_true',
                   help='classifier: the auxiliary head predicts each feature cell\'s share of every concept')
    p.add_argument('--broad-epochs', type=int, default=16,
                   help='broad classifier: epochs of the dense attribute-triple pretraining')
    p.add_argument('--head-steps', type=int, default=500,
                   help='broad classifier: full-batch steps of the linear class head on the frozen trunk')
    p.add_argument('--clip-steps', type=int, default=2000)
    p.add_argument('--embed-dim', type=int, default=64)
    p.add_argument('--clip-width', type=int, default=16,
                   help='CLIP: channels of the vision trunk\'s first convolution (then 2x, 3x, 3x)')
    p.add_argument('--clip-channels', type=int, default=96, help='CLIP: channels of the vision trunk\'s 7x7 map')
    p.add_argument('--group', type=int, default=1,
                   help='CLIP: prompts per image in a batch; above 1, the same image circled elsewhere is a '
                        'hard negative and the in-image loss applies (1: the committed model\'s sampling)')
    p.add_argument('--cover-sigma', type=float, default=0.5,
                   help='CLIP: Gaussian weighting of the in-image targets, as a fraction of the radius')
    p.add_argument('--no-global-mean', action='store_true',
                   help='CLIP: pool only with the attention heads (no global mean of the map)')
    p.add_argument('--whole-image', type=float, default=0.08,
                   help='CLIP: share of the third and later prompts of an image without a circle')
    p.add_argument('--local-weight', type=float, default=1.0, help='CLIP: weight of the in-image loss')
    p.add_argument('--eval-images', type=int, default=40, help='images per split for the CLIP grid evaluation')
    p.add_argument('--log-every', type=int, default=100)
    p.add_argument('--only', choices=['classifier', 'broad', 'clip'],
                   help='train only one model (broad: the broad-features classifier, which is not trained otherwise)')
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    world, splits = load_world(args.world, {})
    log(f'world loaded: ' + ', '.join(f'{k} {len(v)}' for k, v in splits.items()) + f' ({time.time() - t0:.0f} s)')
    concept_words = [c['name'] for c in world['concepts']]
    tok = Tokenizer(concept_words + [w for w in FILLERS if w not in concept_words])

    if args.only in (None, 'classifier'):
        torch.manual_seed(args.seed)
        model, metrics = train_classifier(splits, world, args, np.random.default_rng(args.seed))
        export_classifier(model, world, os.path.join(args.out, 'classifier'), metrics, args)
    if args.only == 'broad':
        torch.manual_seed(args.seed)
        model, metrics = train_broad_classifier(splits, world, args, np.random.default_rng(args.seed))
        export_classifier(model, world, os.path.join(args.out, 'broad-classifier'), metrics, args,
                          {'task': 'dense shape x colour x pattern cover of each 7x7 cell, then a linear class head '
                                   'on the frozen trunk', 'epochs': args.broad_epochs, 'headSteps': args.head_steps})
    if args.only in (None, 'clip'):
        torch.manual_seed(args.seed + 1)
        model, metrics = train_clip(splits, world, tok, args, np.random.default_rng(args.seed + 1))
        export_clip(model, tok, os.path.join(args.out, 'clip'), metrics, args)
    log(f'done in {time.time() - t0:.0f} s; models in {args.out}')


if __name__ == '__main__':
    main()
