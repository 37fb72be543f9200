/** Parsers for CLI option values, with errors that name the option. */
import { InvalidArgumentError } from 'commander';

/** A positive integer. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Any finite number. */
export function finite(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

/** A non-negative number. */
export function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

/** A fraction in [0, 1). */
export function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}

/** A grid such as `7x7` or `7` (square). */
export function grid(value: string): [number, number] {
  const parts = value.toLowerCase().split('x').map(Number);
  const [h, w] = parts.length === 1 ? [parts[0]!, parts[0]!] : parts;
  if (parts.length > 2 || !Number.isInteger(h) || !Number.isInteger(w) || h! < 1 || w! < 1) {
    throw new InvalidArgumentError('expected a grid such as 7x7');
  }
  return [h!, w!];
}

/** Three comma-separated numbers (a per-channel mean or std). */
export function triple(value: string): [number, number, number] {
  const parts = value.split(',').map(Number);
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError('expected three comma-separated numbers, e.g. 0.485,0.456,0.406');
  return parts as [number, number, number];
}

/** One of the allowed words. */
export function oneOf<T extends string>(...allowed: T[]): (value: string) => T {
  return (value: string) => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
    return value as T;
  };
}
