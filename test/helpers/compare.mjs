// Comparisons of engine output with the golden float64-derived fixtures (SPEC rounding for uint8).

/** The SPEC's 8-bit conversion of a float output value. */
export function toU8(y) {
  return Math.floor(Math.min(Math.max(y * 255 + 0.5, 0), 255));
}

export function compareF32(actual, expected) {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
  }
  return { maxAbs };
}

export function compareU8(actual, expectedF32) {
  if (actual.length !== expectedF32.length) throw new Error(`length ${actual.length} vs ${expectedF32.length}`);
  let maxAbs = 0;
  let mismatches = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - toU8(expectedF32[i]));
    if (d > maxAbs) maxAbs = d;
    if (d !== 0) mismatches++;
  }
  return { maxAbs, mismatchFraction: mismatches / actual.length };
}

/** PSNR in dB of two float arrays of values nominally in [0, 1]. */
export function psnr(actual, expected) {
  let sum = 0;
  for (let i = 0; i < actual.length; i++) sum += (actual[i] - expected[i]) ** 2;
  return sum === 0 ? Infinity : 10 * Math.log10(1 / (sum / actual.length));
}
