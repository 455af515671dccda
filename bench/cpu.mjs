// `npm run bench`: CPU throughput of enhanceRaw against onnxruntime-node running the published
// model's ONNX export on the same input, in the same run. Prints MPix/s and ratios; writes
// bench/results/cpu.json.
import os from 'node:os';
import { Enhancer } from 'flwnet';
import { benchWeights, machineDescription, onnxFeeds, openOnnxPeer, syntheticImage, timeIt, writeResult } from './common.mjs';

const SIZES = [
  [600, 400],
  [1920, 1080],
];
const threads = Number(process.env.FLWNET_BENCH_THREADS || os.cpus().length);

async function onnxRunner(features, image) {
  const peer = await openOnnxPeer(threads);
  if (peer.skipped) return peer;
  const feeds = onnxFeeds(peer.ort, image, features);
  return { run: () => peer.session.run(feeds) };
}

async function main() {
  const weights = benchWeights();
  const enhancer = await Enhancer.create({ weights, device: 'cpu', threads });
  console.log(`flwnet: ${enhancer.description}`);
  const rows = [];
  for (const [width, height] of SIZES) {
    const image = syntheticImage(width, height);
    const mpix = (width * height) / 1e6;
    const ours = await timeIt(() => enhancer.enhanceRaw(image, { exposure: 0.4 }));
    const { features } = await enhancer.inspect(image, { exposure: 0.4 });
    const ort = await onnxRunner(features, image);
    const peer = ort.run ? await timeIt(ort.run) : undefined;
    const row = {
      size: `${width}x${height}`,
      flwnetMPixPerS: mpix / ours.median,
      flwnetSeconds: ours.median,
      onnxruntimeMPixPerS: peer ? mpix / peer.median : null,
      onnxruntimeSeconds: peer ? peer.median : null,
      ratio: peer ? peer.median / ours.median : null,
      onnxruntimeSkipped: ort.skipped,
    };
    rows.push(row);
    const ratio = row.ratio ? `${row.ratio.toFixed(2)}x onnxruntime (${row.onnxruntimeMPixPerS.toFixed(3)} MPix/s)` : ort.skipped;
    console.log(`${row.size.padEnd(10)} flwnet ${row.flwnetMPixPerS.toFixed(3)} MPix/s  ${ratio}`);
  }
  writeResult('cpu.json', {
    benchmark: 'enhanceRaw uint8, CPU, synthetic dark image; onnxruntime-node session.run on the same pixels (features precomputed)',
    machine: machineDescription(),
    threads,
    backend: enhancer.description,
    date: new Date().toISOString(),
    rows,
  });
  await enhancer.close();
}

main().catch((err) => {
  console.error(`benchmark failed: ${err.message}`);
  process.exit(1);
});
