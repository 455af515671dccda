// Every CPU instruction-set path against the scalar reference: each path the processor runs
// (forced with the cpuIsa option), with and without Winograd, on sizes that end rows inside a tile,
// split images into several strips and bands, and carry alpha; and the loss kernels of each path
// on the golden loss pairs. Also the engine settings' environment-variable defaults.
import test from 'ava';
import { Enhancer, InvalidOptionError } from 'flwnet';
import { loadNative } from '../dist/native.js';
import { lossFixtures, sharedTest, weightsPath } from './helpers/shared.mjs';
import { noiseImage } from './helpers/noise-image.mjs';

const native = loadNative();
const isas = native.cpuIsas;

const SIZES = [
  [1, 1, 3],
  [7, 5, 4],
  [33, 17, 3],
  [97, 61, 3],
  [700, 97, 4],
];

test('the processor runs the scalar path and reports its instruction sets in order', (t) => {
  t.log(`CPU instruction sets on this machine: ${isas.join(', ')}`);
  t.is(isas[0], 'scalar');
  t.deepEqual([...isas].sort((a, b) => ['scalar', 'avx2', 'avx512'].indexOf(a) - ['scalar', 'avx2', 'avx512'].indexOf(b)), isas);
});

// The scalar path itself is held to the golden fixtures (fixtures.test.mjs runs them per path).
for (const isa of isas.filter((name) => name !== 'scalar')) {
  for (const cpuWinograd of [false, true]) {
    sharedTest(`${isa}${cpuWinograd ? ' winograd' : ' direct'} agrees with the scalar reference`, async (t) => {
      const reference = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 2, cpuIsa: 'scalar' });
      const engine = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 2, cpuIsa: isa, cpuWinograd });
      try {
        t.regex(engine.description, new RegExp(`\\b${isa}\\b`));
        t.is(engine.description.includes('winograd'), cpuWinograd, engine.description);
        for (const [width, height, channels] of SIZES) {
          const image = noiseImage(width, height, channels, width * 131 + height);
          for (const exposure of [0.2, 0.6]) {
            const a = (await reference.enhanceRaw(image, { exposure, output: 'float32' })).data;
            const b = (await engine.enhanceRaw(image, { exposure, output: 'float32' })).data;
            t.is(a.length, b.length);
            let maxAbs = 0;
            for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
            t.true(maxAbs <= 2e-5, `${width}x${height}x${channels} exposure ${exposure}: max |difference| ${maxAbs}`);
            const g = await reference.inspect(image, { exposure });
            const h = await engine.inspect(image, { exposure });
            t.deepEqual(h.features, g.features, 'the global branch does not depend on the instruction set');
            t.deepEqual(h.curve, g.curve);
          }
        }
      } finally {
        await reference.close();
        await engine.close();
      }
    });
  }
}

for (const isa of isas.filter((name) => name !== 'scalar')) {
  sharedTest(`${isa} loss kernels agree with the scalar reference on every golden pair`, async (t) => {
    const pairs = lossFixtures();
    t.true(pairs.length > 0, 'golden loss pairs found');
    for (const { name, a, b } of pairs) {
      const reference = await native.evaluateLosses(a, b, { threads: 2, cpuIsa: 'scalar' });
      const result = await native.evaluateLosses(a, b, { threads: 2, cpuIsa: isa });
      for (const [key, expected] of Object.entries(reference)) {
        const allowed = 1e-9 * Math.max(1, Math.abs(expected));
        const ok = expected === result[key] || Math.abs(result[key] - expected) <= allowed;
        t.true(ok, `${name} ${key}: ${result[key]} vs scalar ${expected}`);
      }
    }
  });
}

/** Runs `create` with the environment variable set; engine settings are read synchronously. */
async function withVariable(name, value, create) {
  const saved = process.env[name];
  process.env[name] = value;
  let pending;
  try {
    pending = create();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
  return pending;
}

const cpuEngine = (options = {}) => Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1, ...options });

const BAD_VARIABLES = [
  ['FLWNET_CPU_ISA', 'bogus'],
  ['FLWNET_CPU_WINOGRAD', 'maybe'],
  ['FLWNET_CUDA_EXACT_KERNEL', 'wide'],
  ['FLWNET_CUDA_FAST_KERNEL', 'tensor'],
  ['FLWNET_CUDA_LEVEL_COUNTS', 'global'],
];
for (const [variable, bad] of BAD_VARIABLES) {
  sharedTest(`an unknown ${variable} is an InvalidOptionError naming the variable`, async (t) => {
    const err = await t.throwsAsync(withVariable(variable, bad, () => cpuEngine()), { instanceOf: InvalidOptionError });
    t.is(err.code, 'ERR_FLWNET_INVALID_OPTION');
    t.true(err.message.includes(variable), err.message);
  });
}

sharedTest('FLWNET_CPU_ISA is the default of cpuIsa, and the option wins over it', async (t) => {
  const fromVariable = await withVariable('FLWNET_CPU_ISA', 'scalar', () => cpuEngine());
  const fromOption = await withVariable('FLWNET_CPU_ISA', 'bogus', () => cpuEngine({ cpuIsa: 'scalar' }));
  try {
    t.regex(fromVariable.description, /scalar/);
    t.regex(fromOption.description, /scalar/);
  } finally {
    await fromVariable.close();
    await fromOption.close();
  }
});

sharedTest('bad engine settings are InvalidOptionErrors naming the option', async (t) => {
  const bad = [
    { cpuIsa: 'sse2' }, { cpuIsa: 3 }, { cudaExactKernel: 'fast' }, { cpuWinograd: 1 },
    { cudaFastKernel: 'tensor' }, { cudaFastKernel: 1 }, { cudaLevelCounts: 'global' },
  ];
  for (const options of bad) {
    const err = await t.throwsAsync(cpuEngine(options), { instanceOf: InvalidOptionError });
    t.true(err.message.includes(Object.keys(options)[0]), err.message);
  }
  const missing = ['avx2', 'avx512'].find((name) => !isas.includes(name));
  if (missing) {
    const err = await t.throwsAsync(cpuEngine({ cpuIsa: missing }), { instanceOf: InvalidOptionError });
    t.regex(err.message, /does not run/);
  }
});

test('the losses follow FLWNET_CPU_ISA too, and refuse an unknown value', async (t) => {
  const { evaluate } = await import('flwnet');
  const image = noiseImage(40, 30, 3, 7);
  const other = noiseImage(40, 30, 3, 8);
  const scalar = await withVariable('FLWNET_CPU_ISA', 'scalar', () => evaluate(image, other));
  const best = await evaluate(image, other);
  t.true(Math.abs(scalar.total - best.total) <= 1e-9 * Math.abs(best.total), `${scalar.total} vs ${best.total}`);
  const err = await t.throwsAsync(withVariable('FLWNET_CPU_ISA', 'bogus', () => evaluate(image, other)), { instanceOf: InvalidOptionError });
  t.regex(err.message, /FLWNET_CPU_ISA/);
});
