// Deterministic pseudo-random test images (a linear congruential generator), so failures reproduce.

/** A `width` x `height` image of `channels` bytes per pixel from `seed`; each byte is masked with `mask`. */
export function noiseImage(width, height, channels, seed, mask = 0xff) {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) & mask;
  }
  return { data, width, height, channels };
}
