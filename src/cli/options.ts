/**
 * Parsers for CLI option values, with errors that name the option (commander adds the option and
 * the value to the message). Numbers are read strictly: `1x`, `0x10`, `1.5` for an integer, or an
 * empty value are rejected rather than cut short or read as 0.
 */
import { InvalidArgumentError } from 'commander';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** `value` as an integer, or `undefined` when it is not written as one. */
function readInteger(value: string): number | undefined {
  const s = value.trim();
  if (!INTEGER.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `value` as a finite decimal number, or `undefined` when it is not written as one. */
function readNumber(value: string): number | undefined {
  const s = value.trim();
  if (!DECIMAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** A positive integer. */
export function positiveInt(value: string): number {
  const n = readInteger(value);
  if (n === undefined || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A non-negative integer (a count that may be 0). */
export function nonNegativeInt(value: string): number {
  const n = readInteger(value);
  if (n === undefined || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

/** A random seed: an integer. */
export function seed(value: string): number {
  const n = readInteger(value);
  if (n === undefined) throw new InvalidArgumentError('expected an integer seed');
  return n;
}

/** A TCP port, 0 meaning any free port. */
export function port(value: string): number {
  const n = readInteger(value);
  if (n === undefined || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0–65535 (0 = any free port)');
  return n;
}

/** Any finite number. */
export function finite(value: string): number {
  const n = readNumber(value);
  if (n === undefined) throw new InvalidArgumentError('expected a number');
  return n;
}

/** A non-negative number. */
export function nonNegative(value: string): number {
  const n = readNumber(value);
  if (n === undefined || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

/** A positive number. */
export function positiveFloat(value: string): number {
  const n = readNumber(value);
  if (n === undefined || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** A fraction in [0, 1). */
export function fraction(value: string): number {
  const n = readNumber(value);
  if (n === undefined || !(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}

/** A comma-separated list of positive numbers (empty: none). */
export function positiveList(value: string): number[] {
  if (value.trim() === '') return [];
  const items = value.split(',').map(readNumber);
  if (items.some((v) => v === undefined || v <= 0)) throw new InvalidArgumentError('expected comma-separated positive numbers, e.g. 5,10,15');
  return items as number[];
}

/** A grid such as `7x7` or `7` (square). */
export function grid(value: string): [number, number] {
  const parts = value.toLowerCase().split('x').map(readInteger);
  const [h, w] = parts.length === 1 ? [parts[0], parts[0]] : parts;
  if (parts.length > 2 || h === undefined || w === undefined || h < 1 || w < 1) {
    throw new InvalidArgumentError('expected a grid such as 7x7');
  }
  return [h, w];
}

/** Three comma-separated numbers (a per-channel mean or std). */
export function triple(value: string): [number, number, number] {
  const parts = value.split(',').map(readNumber);
  if (parts.length !== 3 || parts.some((v) => v === undefined))
    throw new InvalidArgumentError('expected three comma-separated numbers, e.g. 0.485,0.456,0.406');
  return parts as [number, number, number];
}

/** One of the allowed words. */
export function oneOf<T extends string>(...allowed: T[]): (value: string) => T {
  return (value: string) => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
    return value as T;
  };
}
