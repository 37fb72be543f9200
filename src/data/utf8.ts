/** Strict UTF-8 decoding of files: invalid bytes are an error naming the file and line, never replaced. */

const strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes `bytes` as UTF-8 (a leading byte-order mark is dropped); invalid bytes throw naming `source` and the line. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    let start = 0;
    for (let line = 1; ; line++) {
      const end = bytes.indexOf(0x0a, start);
      const stop = end < 0 ? bytes.length : end;
      try {
        strict.decode(bytes.subarray(start, stop));
      } catch {
        throw new Error(`${source}:${line}: not valid UTF-8 (save the file as UTF-8)`);
      }
      if (end < 0) throw new Error(`${source}: not valid UTF-8 (save the file as UTF-8)`);
      start = end + 1;
    }
  }
}
