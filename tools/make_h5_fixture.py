"""Writes test/fixtures/gtsegs-mini.mat: a tiny HDF5 file in the layout of ImageNet-segmentation's
gtsegs_ijcv.mat (Guillaumin et al., as used by Chefer et al. 2021), for the TypeScript reader's tests.

Layout, as in the MATLAB v7.3 original (HDF5 with a 512-byte MATLAB user block):
  /value/img   (n, 1) object references; image i is f[f['/value/img'][i, 0]], a uint8 dataset
               stored (3, W, H) (MATLAB is column-major), read as transpose (2, 1, 0) -> H x W x 3.
  /value/gt    (n, 1) object references to (1, 1) cells of object references; mask i is
               f[f[f['/value/gt'][i, 0]][0, 0]], a uint8 dataset stored (W, H), read as
               transpose (1, 0) -> H x W, 0 = background, 1 = foreground.
  /#refs#/...  the referenced datasets (MATLAB keeps them there too).

The images have different sizes and contents that make transposition mistakes visible: pixel
(y, x, c) = (7*y + 3*x + 50*c + 11*i) mod 256, and the mask of image i is the rectangle
y in [i, H - 1), x in [1, W // 2] (image 2's mask is empty).

Also writes test/fixtures/gtsegs-mini.json with the expected arrays (H x W x 3 images and H x W
masks, row-major, as h5py reads them with the reference code's indexing).

Usage: .venv/bin/python tools/make_h5_fixture.py
"""
import json
import os

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
MAT = os.path.join(ROOT, 'gtsegs-mini.mat')
EXPECTED = os.path.join(ROOT, 'gtsegs-mini.json')
SIZES = [(5, 7), (6, 4), (3, 3)]  # (H, W) per image


def image(i: int, h: int, w: int) -> np.ndarray:
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing='ij')
    return ((7 * y + 3 * x + 50 * c + 11 * i) % 256).astype(np.uint8)


def mask(i: int, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    if i < 2:
        m[i:h - 1, 1:w // 2 + 1] = 1
    return m


def matlab_header() -> bytes:
    text = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2015 HDF5 schema 1.00 .'
    head = text.ljust(116, b' ') + b'\x00' * 8 + b'\x00\x02' + b'IM'
    return head.ljust(512, b'\x00')


def main() -> None:
    imgs = [image(i, h, w) for i, (h, w) in enumerate(SIZES)]
    masks = [mask(i, h, w) for i, (h, w) in enumerate(SIZES)]
    n = len(SIZES)
    with h5py.File(MAT, 'w', userblock_size=512) as f:
        refs = f.create_group('#refs#')
        value = f.create_group('value')
        img_refs = value.create_dataset('img', (n, 1), dtype=h5py.ref_dtype)
        gt_refs = value.create_dataset('gt', (n, 1), dtype=h5py.ref_dtype)
        for d in (img_refs, gt_refs):
            d.attrs['MATLAB_class'] = np.bytes_('cell')
        for i in range(n):
            im = refs.create_dataset(f'img{i}', data=imgs[i].transpose(2, 1, 0))  # stored (3, W, H)
            im.attrs['MATLAB_class'] = np.bytes_('uint8')
            gt = refs.create_dataset(f'gt{i}', data=masks[i].transpose(1, 0))  # stored (W, H)
            gt.attrs['MATLAB_class'] = np.bytes_('uint8')
            cell = refs.create_dataset(f'gtcell{i}', (1, 1), dtype=h5py.ref_dtype)
            cell.attrs['MATLAB_class'] = np.bytes_('cell')
            cell[0, 0] = gt.ref
            img_refs[i, 0] = im.ref
            gt_refs[i, 0] = cell.ref
    with open(MAT, 'r+b') as f:
        f.write(matlab_header())

    # Read back exactly as the reference code does.
    expected = []
    with h5py.File(MAT, 'r') as f:
        for i in range(n):
            img = np.array(f[f['/value/img'][i, 0]]).transpose((2, 1, 0))
            gt = np.array(f[f[f['/value/gt'][i, 0]][0, 0]]).transpose((1, 0))
            assert np.array_equal(img, imgs[i]) and np.array_equal(gt, masks[i])
            expected.append({'height': int(img.shape[0]), 'width': int(img.shape[1]),
                             'image': img.reshape(-1).tolist(), 'mask': gt.reshape(-1).tolist()})
    with open(EXPECTED, 'w') as f:
        json.dump({'source': 'tools/make_h5_fixture.py', 'images': expected}, f)
        f.write('\n')
    print(f'wrote {MAT} ({os.path.getsize(MAT)} bytes) and {EXPECTED}')


if __name__ == '__main__':
    main()
