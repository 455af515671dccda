#!/usr/bin/env node
// Builds the native addon with cmake-js into build-cmake/ (run by `npm install`).
// FLWNET_CUDA=AUTO|ON|OFF (default AUTO: CUDA when nvcc is found), FLWNET_CUDA_ARCHITECTURES and
// CUDNN_ROOT are passed through to CMake; FLWNET_SKIP_BUILD=1 skips the build.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

if (process.env.FLWNET_SKIP_BUILD === '1') {
  console.log('flwnet: FLWNET_SKIP_BUILD=1, not building the native addon');
  process.exit(0);
}
const root = path.resolve(__dirname, '..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const args = [cmakeJs, 'compile', '-O', 'build-cmake', `--CDFLWNET_CUDA=${process.env.FLWNET_CUDA || 'AUTO'}`];
if (process.env.FLWNET_CUDA_ARCHITECTURES) {
  args.push(`--CDFLWNET_CUDA_ARCHITECTURES=${process.env.FLWNET_CUDA_ARCHITECTURES}`);
}
if (process.env.CUDNN_ROOT) args.push(`--CDCUDNN_ROOT=${process.env.CUDNN_ROOT}`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('flwnet: building the native addon failed (see the output above); a C++17 compiler and CMake >= 3.18 are required');
  process.exit(result.status ?? 1);
}
