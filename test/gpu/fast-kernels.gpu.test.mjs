// The fast-mode kernel chosen by the cudaFastKernel option (default: FLWNET_CUDA_FAST_KERNEL): the
// mma.sync kernel ('mma', sm_80+) must meet the fast-mode tolerance against the CPU engine on every
// edge shape and on the golden fixtures, as the default WMMA kernel does; an unknown value is
// refused. Without a usable GPU every test is skipped with the reason in its title.
import test from 'ava';
import { Enhancer, InvalidOptionError } from 'flwnet';
import { enhanceFixtures, weightsPath } from '../helpers/shared.mjs';
import { agreeF32, agreeU8, closeEngines, cpuEngine, gpu, gpuTest, randomImage } from './gpu-helpers.mjs';

test.after.always(closeEngines);

/** Creates a fused fast engine running `cudaFastKernel`. */
const fastEngine = (cudaFastKernel) =>
  Enhancer.create({ weights: weightsPath, device: 'cuda:0', backend: 'fused', precision: 'fast', cudaFastKernel });

/** Runs `create` with the environment variable `name` set to `value`, restoring it afterwards. */
async function withVariable(name, value, create) {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    return await create();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

// Single pixels, single rows and columns, partial strips (46 columns) and segments (4-row steps),
// alpha, and frames split into many strips and segments.
const SIZES = [
  [1, 1, 3],
  [13, 1, 3],
  [1, 23, 4],
  [47, 5, 4],
  [46, 4, 3],
  [93, 9, 3],
  [257, 181, 3],
  [1023, 769, 3],
  [1920, 1080, 3],
];

/** Whether the first GPU runs the mma kernel (compute capability 8.0 or newer). */
const mmaCapable = () => Number(String(gpu?.devices?.[0]?.computeCapability ?? '0').split('.')[0]) >= 8;

gpuTest('the mma fast kernel agrees with the CPU engine within the fast tolerance', async (t) => {
  const enhancer = await fastEngine('mma');
  try {
    t.regex(enhancer.description, mmaCapable() ? /fast, mma kernel/ : /fast, wmma kernel/);
    const cpu = await cpuEngine();
    for (const [width, height, channels] of SIZES) {
      const image = randomImage(width, height, { seed: width * 17 + height, channels });
      const expected = (await cpu.enhanceRaw(image, { exposure: 0.4, output: 'float32' })).data;
      const f32 = await enhancer.enhanceRaw(image, { exposure: 0.4, output: 'float32' });
      const floatCheck = agreeF32('fast', f32.data, expected);
      const u8 = await enhancer.enhanceRaw(image, { exposure: 0.4 });
      const byteCheck = agreeU8('fast', u8.data, expected);
      let alphaKept = true;
      for (let i = 3; channels === 4 && i < image.data.length; i += 4) alphaKept &&= u8.data[i] === image.data[i];
      const label = `${width}x${height}x${channels}`;
      t.true(floatCheck.ok, `${label} float32: ${floatCheck.detail}`);
      t.true(byteCheck.ok, `${label} ${byteCheck.detail}`);
      t.true(alphaKept, `${label} alpha passed through`);
      t.log(`${label}: ${floatCheck.detail}; ${byteCheck.detail}`);
    }
  } finally {
    await enhancer.close();
  }
});

gpuTest('the mma fast kernel meets the fixtures\' fast-mode tolerance', async (t) => {
  const enhancer = await fastEngine('mma');
  try {
    for (const f of enhanceFixtures()) {
      const image = { data: f.input, width: f.json.width, height: f.json.height, channels: 3 };
      const out = await enhancer.enhanceRaw(image, { exposure: f.json.exposure, output: 'float32' });
      const floatCheck = agreeF32('fast', out.data, f.expectedF32);
      const byteCheck = agreeU8('fast', (await enhancer.enhanceRaw(image, { exposure: f.json.exposure })).data, f.expectedF32);
      t.true(floatCheck.ok, `${f.name}: ${floatCheck.detail}`);
      t.true(byteCheck.ok, `${f.name}: ${byteCheck.detail}`);
      t.log(`${f.name}: ${floatCheck.detail}; ${byteCheck.detail}`);
    }
  } finally {
    await enhancer.close();
  }
});

gpuTest('FLWNET_CUDA_FAST_KERNEL is the default of cudaFastKernel, and the option wins over it', async (t) => {
  const expected = mmaCapable() ? /fast, mma kernel/ : /fast, wmma kernel/;
  const fromVariable = await withVariable('FLWNET_CUDA_FAST_KERNEL', 'mma', () => fastEngine(undefined));
  const fromOption = await withVariable('FLWNET_CUDA_FAST_KERNEL', 'wmma', () => fastEngine('mma'));
  try {
    t.regex(fromVariable.description, expected);
    t.regex(fromOption.description, expected);
  } finally {
    await fromVariable.close();
    await fromOption.close();
  }
});

gpuTest('an unknown cudaFastKernel is refused when the engine is created', async (t) => {
  const err = await t.throwsAsync(fastEngine('fastest'), { instanceOf: InvalidOptionError });
  t.regex(err.message, /cudaFastKernel/);
  const fromVariable = await t.throwsAsync(withVariable('FLWNET_CUDA_FAST_KERNEL', 'fastest', () => fastEngine(undefined)),
    { instanceOf: InvalidOptionError });
  t.regex(fromVariable.message, /FLWNET_CUDA_FAST_KERNEL/);
});
