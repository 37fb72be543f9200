"""Writes tiny CIFAR-10 and CIFAR-100 folders in the exact layout torchvision downloads
(test/fixtures/cifar/), for the dataset-reader tests (test/data/datasets.test.ts).

torchvision's files are Python 2 protocol-2 pickles of dicts with `str` keys: `data` is a uint8
numpy array N x 3072 (the 1024 red values of the 32x32 image, then green, then blue, row-major),
`labels` (CIFAR-10) or `fine_labels` / `coarse_labels` (CIFAR-100) are lists of ints;
`batches.meta` / `meta` hold `label_names` / `fine_label_names` / `coarse_label_names`.

CIFAR-10 is written as Python 2 wrote it: the real `pickle` module at protocol 2 with its bytes
saved as Python 2 `str` (SHORT_BINSTRING/BINSTRING, which is what Python 2's pickler emitted for
`str`). CIFAR-100 is written by Python 3's plain `pickle.dump(..., protocol=2)` (bytes through
`_codecs.encode`), the other form such files take when re-pickled. Pixels follow `pixel()` so the
tests can check them.

    python3 -m venv .venv && .venv/bin/pip install numpy && .venv/bin/python tools/make_cifar_fixtures.py
"""
import io
import os
import pickle
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'cifar')


class Python2Pickler(pickle._Pickler):
    """The real pickler, but `bytes` saved as Python 2 `str` (protocol 2 has no bytes opcode)."""

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def pixel(batch, i, c, y, x):
    """The value of channel c (0 R, 1 G, 2 B) at (y, x) of image i of batch `batch`."""
    return (batch * 50 + i * 17 + c * 80 + y * 3 + x) % 256


def images(batch, n):
    a = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    for i in range(n):
        for c in range(3):
            for y in range(32):
                for x in range(32):
                    a[i, c, y, x] = pixel(batch, i, c, y, x)
    return a.reshape(n, 3072)


def write(path, obj, python2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        if python2:
            Python2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=2)


def cifar10():
    root = os.path.join(OUT, 'cifar-10-batches-py')
    names = [b'airplane', b'automobile', b'bird', b'cat', b'deer', b'dog', b'frog', b'horse', b'ship', b'truck']
    write(os.path.join(root, 'batches.meta'), {b'num_cases_per_batch': 2, b'label_names': names, b'num_vis': 3072}, True)
    for b in range(1, 6):
        labels = [(2 * b) % 10, (2 * b + 1) % 10]
        write(os.path.join(root, f'data_batch_{b}'), {
            b'batch_label': f'training batch {b} of 5'.encode(),
            b'labels': labels,
            b'data': images(b, 2),
            b'filenames': [f'img_{b}_{i}.png'.encode() for i in range(2)],
        }, True)
    write(os.path.join(root, 'test_batch'), {
        b'batch_label': b'testing batch 1 of 1',
        b'labels': [9, 0, 5],
        b'data': images(0, 3),
        b'filenames': [f'test_{i}.png'.encode() for i in range(3)],
    }, True)


def cifar100():
    root = os.path.join(OUT, 'cifar-100-python')
    fine = [f'fine_{i:02d}'.encode() for i in range(100)]
    fine[0] = b'apple'
    fine[99] = b'worm'
    coarse = [f'coarse_{i:02d}'.encode() for i in range(20)]
    write(os.path.join(root, 'meta'), {b'fine_label_names': fine, b'coarse_label_names': coarse}, False)
    write(os.path.join(root, 'train'), {
        b'filenames': [f'train_{i}.png'.encode() for i in range(4)],
        b'batch_label': b'training batch 1 of 1',
        b'fine_labels': [0, 99, 42, 0],
        b'coarse_labels': [4, 13, 1, 4],
        b'data': images(7, 4),
    }, False)
    write(os.path.join(root, 'test'), {
        b'filenames': [f'test_{i}.png'.encode() for i in range(2)],
        b'batch_label': b'testing batch 1 of 1',
        b'fine_labels': [99, 3],
        b'coarse_labels': [13, 0],
        b'data': images(8, 2),
    }, False)


if __name__ == '__main__':
    cifar10()
    cifar100()
