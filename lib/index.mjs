// ES module entry: the implementation is CommonJS (dist/index.js); this re-exports it by name.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const flwnet = require('../dist/index.js');

export default flwnet;
export const {
  enhance,
  Enhancer,
  gpuInfo,
  FlwnetError,
  InvalidInputError,
  InvalidOptionError,
  WeightsError,
  DeviceError,
  AbortError,
  ClosedError,
  DEFAULT_EXPOSURE,
  DEFAULT_MAX_PIXELS,
  MAX_PIXELS_LIMIT,
} = flwnet;
