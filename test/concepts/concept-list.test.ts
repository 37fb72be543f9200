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
