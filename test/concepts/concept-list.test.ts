import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConceptList, readConceptList } from '../../src/concepts/concept-list.js';
import { tempDir } from '../helpers/paths.js';

test('concept lists skip blanks and comments, trim, and keep the first of case-insensitive repeats', () => {
  assert.deepEqual(parseConceptList('# header\n red \r\n\nStriped\nred\nRED\n  blue star\n'), ['red', 'Striped', 'blue star']);
});

test('an empty or missing concept list is an error naming the file', () => {
  const dir = tempDir();
  const empty = join(dir, 'concepts.txt');
  writeFileSync(empty, '\n# nothing here\n');
  assert.throws(() => readConceptList(empty), /concepts\.txt: the concept list is empty/);
  assert.throws(() => readConceptList(join(dir, 'missing.txt')), /missing\.txt: cannot read concept list/);
});

test('a concept list with bytes that are not UTF-8 is an error naming the file and line, not a replacement character', () => {
  const dir = tempDir('salf-concepts-');
  const file = join(dir, 'latin1.txt');
  writeFileSync(file, Buffer.concat([Buffer.from('red\n# comment\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from('\nblue\n')]));
  assert.throws(() => readConceptList(file), /latin1\.txt:3: not valid UTF-8/);
  writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('café\nblue\n')]));
  assert.deepEqual(readConceptList(file), ['café', 'blue'], 'UTF-8 with a byte-order mark reads');
});
