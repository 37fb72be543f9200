import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  availableBytes,
  defaultMemoryBudget,
  formatBytes,
  STAGE_FIXED_BYTES,
  MIN_MEMORY_BUDGET,
  parseMemoryBudget,
  rowsFor,
  usableBytes,
  RUNTIME_RESERVE,
} from '../../src/training/memory-budget.js';

test('memory budget: bytes, decimal and binary units, fractions, case and spaces', () => {
  assert.equal(parseMemoryBudget('4GiB'), 4 * 2 ** 30);
  assert.equal(parseMemoryBudget('600MB'), 600e6);
  assert.equal(parseMemoryBudget('1.5 gib'), 1.5 * 2 ** 30);
  assert.equal(parseMemoryBudget('2g'), 2e9);
  assert.equal(parseMemoryBudget('1073741824'), 2 ** 30);
  assert.equal(parseMemoryBudget(2 ** 31), 2 ** 31);
  assert.equal(parseMemoryBudget('768MiB'), 768 * 2 ** 20);
});

test('memory budget: default is 4 GiB, or half the memory of a small machine, never below the minimum', () => {
  assert.equal(defaultMemoryBudget(64 * 2 ** 30), 4 * 2 ** 30);
  assert.equal(defaultMemoryBudget(6 * 2 ** 30), 3 * 2 ** 30);
  assert.equal(defaultMemoryBudget(2 ** 29), MIN_MEMORY_BUDGET);
  assert.ok(parseMemoryBudget(undefined) >= MIN_MEMORY_BUDGET);
});

test('memory budget: clear errors for nonsense and for budgets under the minimum', () => {
  assert.throws(() => parseMemoryBudget('lots'), /expected bytes or a size such as 4GiB/);
  assert.throws(() => parseMemoryBudget('4 parsecs'), /expected bytes/);
  assert.throws(() => parseMemoryBudget(-1), /positive/);
  assert.throws(() => parseMemoryBudget('100MB'), /below the minimum 512 MiB/);
});

test('memory budget: rows per chunk from bytes per row, after fixed bytes, clamped', () => {
  assert.equal(usableBytes(2 ** 30), 2 ** 30 - RUNTIME_RESERVE);
  assert.equal(rowsFor(1000, 30), 33);
  assert.equal(rowsFor(1000, 30, { fixedBytes: 400 }), 20);
  assert.equal(rowsFor(1000, 30, { max: 10 }), 10);
  assert.equal(rowsFor(100, 300), 1);
  assert.equal(rowsFor(100, 300, { min: 4 }), 4);
  assert.throws(() => rowsFor(100, 0), /bytesPerRow must be > 0/);
  assert.equal(formatBytes(1.5 * 2 ** 30), '1.5 GiB');
  assert.equal(formatBytes(384 * 2 ** 20), '384 MiB');
});

test('memory budget: a stage starting now gets the budget less what is resident and its fixed buffers', () => {
  const MiB = 2 ** 20;
  assert.equal(availableBytes(2048 * MiB, 447 * MiB), 2048 * MiB - 447 * MiB - STAGE_FIXED_BYTES);
  assert.ok(availableBytes(2048 * MiB, 900 * MiB) < availableBytes(2048 * MiB, 447 * MiB), 'more resident, less available');
  assert.equal(availableBytes(512 * MiB, 600 * MiB), 64 * MiB, 'over budget already: a floor, not a negative size');
  const now = availableBytes(2048 * MiB);
  assert.ok(now > 0 && now <= 2048 * MiB - process.memoryUsage().rss + MiB, "by default, this process's RSS");
});
