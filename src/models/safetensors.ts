/**
 * Reading and writing the safetensors format (https://huggingface.co/docs/safetensors): an
 * 8-byte little-endian header length, a JSON header mapping names to dtype, shape and byte
 * offsets, then the raw little-endian data. The format is small enough that a dependency would
 * add more than it saves; files written here load with `safetensors.torch.load_file`.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../data/atomic-write.js';

/** A named float32 tensor. */
export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

/** Serialises float32 tensors (and string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`safetensors: tensor ${name} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    }
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

/** Parses safetensors bytes; `source` names the file in errors. Only F32 tensors are accepted. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${source}: not a safetensors file (too short)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error(`${source}: not a safetensors file (header length ${headerLen} exceeds file)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw new Error(`${source}: not a safetensors file (bad header: ${(err as Error).message})`);
  }
  const base = 8 + headerLen;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw new Error(`${source}: tensor ${name} has dtype ${e.dtype}; only F32 is supported`);
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4 || base + end > bytes.length) {
      throw new Error(`${source}: tensor ${name} has inconsistent offsets for shape [${e.shape.join(', ')}]`);
    }
    const copy = bytes.slice(base + begin, base + end);
    tensors[name] = { data: new Float32Array(copy.buffer, copy.byteOffset, count), shape: e.shape };
  }
  return { tensors, metadata };
}

/** Writes a safetensors file atomically. */
export function writeSafetensors(path: string, tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Reads a safetensors file. */
export function readSafetensors(path: string): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}
