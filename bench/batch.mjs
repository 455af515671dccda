// `npm run bench:batch`: end-to-end batch throughput, files in and files out. Times, on the same
// JPEGs: (a) Enhancer.enhanceMany (decode, inference and encode overlapping), (b) a naive loop
// (read, enhance, write one image at a time with the same Enhancer), (c) onnxruntime-node running
// the published model's ONNX export in the same naive loop. Before those, 10,000 small images
// generated on the fly show the pipeline's memory stays flat. Writes bench/results/batch.json.
//
// Environment: FLWNET_BENCH_IMAGES (default 200), FLWNET_BENCH_SMALL (default 10000),
// FLWNET_BENCH_THREADS (default: all cores), FLWNET_BENCH_DEVICE (default cpu).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Enhancer } from 'flwnet';
import { benchWeights, machineDescription, onnxFeeds, openOnnxPeer, sharedDir, syntheticImage, writeResult } from './common.mjs';

const IMAGE_COUNT = Number(process.env.FLWNET_BENCH_IMAGES || 200);
const SMALL_COUNT = Number(process.env.FLWNET_BENCH_SMALL || 10000);
const threads = Number(process.env.FLWNET_BENCH_THREADS || os.cpus().length);
const device = process.env.FLWNET_BENCH_DEVICE || 'cpu';
// 640 x 480: both sides multiples of 20, as the ONNX export requires.
const WIDTH = 640;
const HEIGHT = 480;
const JPEG_QUALITY = 90;

/** Decodable photos from the shared low-light set (sharp reads no BMP), as 800 x 600 crops. */
async function loadPhotos() {
  const dir = path.join(sharedDir, 'images', 'lowlight');
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort() : [];
  const photos = [];
  for (const name of names) {
    photos.push(await sharp(path.join(dir, name)).rotate().removeAlpha().resize(800, 600, { fit: 'cover' }).raw().toBuffer());
  }
  return photos;
}

/** N distinct 640 x 480 JPEGs: shifted (and mirrored) crops of the photos, or synthetic ones. */
async function makeInputs(dir, count) {
  const photos = await loadPhotos();
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `img-${String(i).padStart(5, '0')}.jpg`);
    let image;
    if (photos.length > 0) {
      const raw = { raw: { width: 800, height: 600, channels: 3 } };
      image = sharp(photos[i % photos.length], raw).extract({ left: (i * 37) % 160, top: (i * 23) % 120, width: WIDTH, height: HEIGHT });
      if (i % 2 === 1) image = image.flop();
    } else {
      const { data } = syntheticImage(WIDTH, HEIGHT, 3, i + 1);
      image = sharp(data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } });
    }
    await image.jpeg({ quality: JPEG_QUALITY }).toFile(file);
    files.push(file);
  }
  return { files, source: photos.length > 0 ? 'crops of ../shared/images/lowlight photos' : 'synthetic' };
}

function outputPath(outDir, file) {
  return path.join(outDir, path.basename(file));
}

/** (a) The pipeline: enhanceMany over the paths, each result written as it arrives. */
async function runPipeline(enhancer, files, outDir) {
  let failed = 0;
  for await (const result of enhancer.enhanceMany(files, { quality: JPEG_QUALITY })) {
    if (result.ok) await fs.promises.writeFile(outputPath(outDir, result.path), result.data);
    else failed += 1;
  }
  return failed;
}

/** (b) One image at a time: read, enhance (decode, infer, encode), write. */
async function runNaive(enhancer, files, outDir) {
  for (const file of files) {
    const bytes = await fs.promises.readFile(file);
    await fs.promises.writeFile(outputPath(outDir, file), await enhancer.enhance(bytes, { quality: JPEG_QUALITY }));
  }
  return 0;
}

/** (c) The naive loop with onnxruntime doing the inference (features from enhancer.inspect). */
async function runOnnx({ ort, session }, enhancer, files, outDir) {
  for (const file of files) {
    const { data, info } = await sharp(await fs.promises.readFile(file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image = { data, width: info.width, height: info.height, channels: 3 };
    const { features } = await enhancer.inspect(image, { exposure: 0.4 });
    const pixels = image.width * image.height;
    const { enhanced } = await session.run(onnxFeeds(ort, image, features));
    const out = Buffer.alloc(3 * pixels);
    for (let i = 0; i < pixels; i++) {
      for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(Math.min(1, Math.max(0, enhanced.data[c * pixels + i])) * 255);
    }
    const jpeg = await sharp(out, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: JPEG_QUALITY }).toBuffer();
    await fs.promises.writeFile(outputPath(outDir, file), jpeg);
  }
  return 0;
}

/** Times one end-to-end run into a fresh output directory. */
async function timeRun(name, root, files, body) {
  const outDir = fs.mkdtempSync(path.join(root, `${name}-`));
  const start = performance.now();
  const failed = await body(outDir);
  const seconds = (performance.now() - start) / 1000;
  const written = fs.readdirSync(outDir).length;
  fs.rmSync(outDir, { recursive: true, force: true });
  const imagesPerSecond = files.length / seconds;
  console.log(`${name.padEnd(12)} ${files.length} images in ${seconds.toFixed(2)} s = ${imagesPerSecond.toFixed(2)} images/s`);
  return { seconds, imagesPerSecond, written, failed };
}

/** 64 x 48 PNGs made on demand: nothing of the batch exists before it is pulled. */
async function* smallImages(count) {
  for (let i = 0; i < count; i++) {
    const { data } = syntheticImage(64, 48, 3, i + 1);
    yield sharp(data, { raw: { width: 64, height: 48, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  }
}

/** Peak RSS (MiB) as the count grows: flat memory means the late checkpoints match the early ones. */
async function runSmall(enhancer, count) {
  const checkpoints = new Set([100, 1000, 2500, 5000, 7500, count]);
  const samples = [];
  let done = 0;
  let failed = 0;
  const start = performance.now();
  for await (const result of enhancer.enhanceMany(smallImages(count))) {
    done += 1;
    if (!result.ok) failed += 1;
    if (checkpoints.has(done)) {
      const sample = { images: done, maxRssMiB: process.resourceUsage().maxRSS / 1024, heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20 };
      samples.push(sample);
      console.log(`  ${String(done).padStart(6)} images: peak RSS ${sample.maxRssMiB.toFixed(1)} MiB, heap ${sample.heapUsedMiB.toFixed(1)} MiB`);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  console.log(`small        ${count} images of 64x48 in ${seconds.toFixed(2)} s = ${(count / seconds).toFixed(0)} images/s, ${failed} failed`);
  return { count, size: '64x48', seconds, imagesPerSecond: count / seconds, failed, samples };
}

async function main() {
  const weights = benchWeights();
  const enhancer = await Enhancer.create({ weights, device, threads });
  console.log(`flwnet: ${enhancer.description}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-bench-batch-'));
  try {
    // First, while the process is still small: peak RSS then reflects this run alone.
    const small = SMALL_COUNT > 0 ? await runSmall(enhancer, SMALL_COUNT) : null;
    const { files, source } = await makeInputs(path.join(root, 'in'), IMAGE_COUNT);
    console.log(`${files.length} JPEGs of ${WIDTH}x${HEIGHT} (${source})`);
    await runNaive(enhancer, files.slice(0, 3), fs.mkdtempSync(path.join(root, 'warmup-'))); // first-call costs out of the timings
    const pipeline = await timeRun('pipeline', root, files, (out) => runPipeline(enhancer, files, out));
    const naive = await timeRun('naive loop', root, files, (out) => runNaive(enhancer, files, out));
    const onnx = await openOnnxPeer(threads);
    const onnxRow = onnx.session ? await timeRun('onnxruntime', root, files, (out) => runOnnx(onnx, enhancer, files, out)) : null;
    if (!onnxRow) console.log(`onnxruntime  skipped: ${onnx.skipped}`);
    const ratios = {
      pipelineVsNaive: naive.seconds / pipeline.seconds,
      pipelineVsOnnxruntime: onnxRow ? onnxRow.seconds / pipeline.seconds : null,
      naiveVsOnnxruntime: onnxRow ? onnxRow.seconds / naive.seconds : null,
    };
    console.log(`pipeline / naive loop: ${ratios.pipelineVsNaive.toFixed(2)}x` +
      (onnxRow ? `; pipeline / onnxruntime loop: ${ratios.pipelineVsOnnxruntime.toFixed(2)}x` : ''));
    writeResult('batch.json', {
      benchmark: `end to end, ${files.length} JPEG files ${WIDTH}x${HEIGHT} in, JPEG q${JPEG_QUALITY} files out, exposure 0.4`,
      inputs: source,
      machine: machineDescription(),
      threads,
      backend: enhancer.description,
      date: new Date().toISOString(),
      pipeline,
      naiveLoop: naive,
      onnxruntimeLoop: onnxRow ? { ...onnxRow, executionProvider: 'cpu', intraOpThreads: threads } : { skipped: onnx.skipped },
      ratios,
      smallImages: small,
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    await enhancer.close();
  }
}

main().catch((err) => {
  console.error(`benchmark failed: ${err.message}`);
  process.exit(1);
});
