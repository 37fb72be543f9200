/**
 * Fault injection, full disk: saving a model onto a disk that fills up fails with an error naming
 * the file and saying the disk is full, leaves no temporary file and no folder that loads (the
 * earlier model's manifest is gone), and a rerun once space is freed saves a model that loads.
 * The disk is a small tmpfs where this process may mount one (root), otherwise a shim that makes
 * writes into the folder fail with ENOSPC past a quota (SALF_FAULTS_SHIM=1 forces the shim).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join, resolve } from 'node:path';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { tempDir } from '../helpers/paths.js';
import { tinySalfConfig } from '../helpers/tiny-salf-config.js';

/** A model whose weights take about `kib` KiB. */
function model(kib: number): SalfCbm {
  const [M, L] = [4, 2];
  const D = Math.ceil((kib * 1024) / (4 * M));
  const config = tinySalfConfig(D, M, L);
  const fill = (n: number, v: number): Float32Array => new Float32Array(n).fill(v);
  return new SalfCbm(config, ['a', 'b', 'c', 'd'], ['x', 'y'], {
    conceptWeight: fill(M * D, 0.5),
    mean: fill(M, 0),
    std: fill(M, 1),
    finalWeight: fill(L * M, 1),
    finalBias: fill(L, 0),
  });
}

/** A folder on a disk of `kib` KiB: a tmpfs when one can be mounted, else the write shim. */
function smallDisk(kib: number): { dir: string; kind: string; release(): void } {
  const dir = tempDir('salf-faults-disk-');
  if (process.platform === 'linux' && process.getuid?.() === 0 && !process.env.SALF_FAULTS_SHIM) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'ignore' });
      return { dir, kind: 'tmpfs', release: () => execFileSync('umount', [dir]) };
    } catch {
      // not allowed here (a container without CAP_SYS_ADMIN): use the shim
    }
  }
  // The shim: files opened under `dir` share a quota; a write past it throws ENOSPC.
  const { openSync, writeSync, closeSync, rmSync } = fs;
  const fds = new Map<number, string>();
  const sizes = new Map<string, number>();
  const used = (): number => [...sizes.values()].reduce((a, b) => a + b, 0);
  fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = (openSync as (...a: unknown[]) => number)(path, ...rest);
    const p = resolve(String(path));
    if (p.startsWith(dir)) {
      fds.set(fd, p);
      sizes.set(p, 0);
    }
    return fd;
  }) as typeof fs.openSync;
  fs.writeSync = ((fd: number, buffer: Uint8Array, offset?: number, length?: number, ...rest: unknown[]) => {
    const p = fds.get(fd);
    const n = length ?? buffer.length - (offset ?? 0);
    if (p !== undefined && used() + n > kib * 1024)
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    if (p !== undefined) sizes.set(p, sizes.get(p)! + n);
    return (writeSync as (...a: unknown[]) => number)(fd, buffer, offset, length, ...rest);
  }) as typeof fs.writeSync;
  fs.closeSync = (fd: number) => {
    fds.delete(fd);
    closeSync(fd);
  };
  fs.rmSync = ((path: fs.PathLike, options?: fs.RmOptions) => {
    sizes.delete(resolve(String(path)));
    rmSync(path, options);
  }) as typeof fs.rmSync;
  syncBuiltinESMExports();
  return {
    dir,
    kind: 'shim',
    release: () => {
      Object.assign(fs, { openSync, writeSync, closeSync, rmSync });
      syncBuiltinESMExports();
    },
  };
}

test('a full disk during a model save names the file, leaves nothing that loads or lingers, and a rerun recovers', (t) => {
  const disk = smallDisk(512);
  t.diagnostic(`disk: ${disk.kind}`);
  try {
    const dir = join(disk.dir, 'model');
    model(16).save(dir);
    assert.equal(SalfCbm.load(dir).shape.D, model(16).shape.D, 'a small model fits');
    const filler = join(disk.dir, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(256 * 1024)); // (not counted by the shim; it only sees the save)
    const big = model(disk.kind === 'tmpfs' ? 300 : 600);
    assert.throws(
      () => big.save(dir),
      (e: Error) => e.message.startsWith(join(dir, 'weights.safetensors')) && /\(ENOSPC\): the disk is full.*free space and run again/.test(e.message),
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
      'no temporary file is left',
    );
    assert.throws(() => SalfCbm.load(dir), /manifest\.json: missing/, 'the folder does not load as the old or a half-new model');
    fs.rmSync(filler);
    if (disk.kind === 'shim') disk.release(); // (its quota counts every file the test wrote)
    big.save(dir);
    assert.equal(SalfCbm.load(dir).shape.D, big.shape.D, 'the rerun saved the new model');
  } finally {
    disk.release();
    fs.rmSync(disk.dir, { recursive: true, force: true });
  }
});
