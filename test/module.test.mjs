// The package works from both `import` and `require`, with the same exports.
import test from 'ava';
import { createRequire } from 'node:module';
import * as esm from 'flwnet';

const require = createRequire(import.meta.url);

test('import and require expose the same API', (t) => {
  const cjs = require('flwnet');
  const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort();
  t.deepEqual(esmNames, Object.keys(cjs).sort());
  t.is(esm.Enhancer, cjs.Enhancer);
  t.is(typeof esm.enhance, 'function');
});
