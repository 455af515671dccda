// Native work runs off the event loop. Each check measures the gaps between timer ticks while one
// native call runs, relative to that call's duration: a blocking implementation shows one gap as
// long as the call. The checks live in their own file (ava runs each file in its own process) and
// run one at a time with their inputs made beforehand, so no other test's JavaScript shares the
// event loop they measure.
import test from 'ava';
import { Enhancer, evaluate } from 'flwnet';
import { haveShared, haveWeights, weightsPath } from './helpers/shared.mjs';

/** A dark pseudo-random image, filled 4 bytes at a time (fast enough to stay off the measurement). */
function darkImage(width, height, seed) {
  const words = new Uint32Array(Math.ceil((width * height * 3) / 4));
  let s = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    words[i] = s & 0x3f3f3f3f;
  }
  return { data: new Uint8Array(words.buffer, 0, width * height * 3), width, height, channels: 3 };
}

/** Runs `call` with a 5 ms interval timer; returns the call's duration and the ticks' longest gap. */
async function measure(call) {
  const ticks = [];
  const timer = setInterval(() => ticks.push(performance.now()), 5);
  const start = performance.now();
  await call();
  const end = performance.now();
  clearInterval(timer);
  const marks = [start, ...ticks, end];
  const longestGap = Math.max(...marks.slice(1).map((mark, i) => mark - marks[i]));
  return { duration: end - start, ticks: ticks.length, longestGap };
}

function assertResponsive(t, { duration, ticks, longestGap }) {
  const summary = `${ticks} ticks in ${duration.toFixed(0)} ms, longest gap ${longestGap.toFixed(0)} ms`;
  t.log(summary);
  t.true(ticks >= 3, summary);
  t.true(longestGap < duration / 2, summary);
}

const withWeights = haveShared && haveWeights ? test.serial : test.skip;

withWeights('the event loop keeps running during inference', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu' });
  try {
    const image = darkImage(1920, 1080, 1);
    await enhancer.enhanceRaw(darkImage(64, 64, 2)); // first-call set-up stays out of the measurement
    assertResponsive(t, await measure(() => enhancer.enhanceRaw(image)));
  } finally {
    await enhancer.close();
  }
});

test.serial('evaluate() does not block the event loop', async (t) => {
  const a = darkImage(1920, 1080, 3);
  const b = darkImage(1920, 1080, 4);
  let result;
  assertResponsive(t, await measure(async () => {
    result = await evaluate(a, b, { device: 'cpu' });
  }));
  t.true(Number.isFinite(result.psnr));
});
