// Lists source files for binding.gyp, which has no globbing: `node scripts/list-sources.js DIR SUFFIX [--generic]`.
// --generic leaves out the per-instruction-set files (*_avx2.cpp, *_avx512.cpp) that get their own targets.
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, suffix, flag] = process.argv.slice(2);
const isaSpecific = /_(avx2|avx512)\.cpp$/;
const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
const chosen = files.filter((f) => f.endsWith(suffix) && !(flag === '--generic' && isaSpecific.test(f)));
process.stdout.write(chosen.map((f) => path.posix.join(dir, f)).join(' '));
