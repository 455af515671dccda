#!/usr/bin/env bash
# Packs what a run on the GPU machine needs (that machine has no Node.js and no network) into the
# git-ignored folder .device/, to be carried there with the checkout; scripts/gpu-run.sh unpacks it.
#   .device/node.tar.xz      Node.js binary + headers (made by the reference folder's bundle-node.sh)
#   .device/runtime.tar.xz   dist/ and only the node_modules the GPU run loads (sharp with its native
#                            packages, node-addon-api, cmake-js, ava, and their dependency closure)
#   .device/shared.tar.xz    shared/: the golden fixtures, SPEC.md and the weights (.pth and packed
#                            .f32), laid out like the reference folder, for FLWNET_SHARED to point at
# Usage: scripts/gpu-pack.sh   (run in a checkout with node_modules installed; FLWNET_SHARED
# overrides the reference folder, default ../shared)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
shared=$(cd "${FLWNET_SHARED:-$root/../shared}" && pwd) || { echo "gpu-pack: reference folder not found (set FLWNET_SHARED)" >&2; exit 1; }
limit_mib=60
runtime_roots=(sharp node-addon-api cmake-js ava)

echo "== Node.js bundle"
bash "$shared/device/bundle-node.sh" >/dev/null
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
ls -la .device/node.tar.xz

echo "== TypeScript (dist/, with its ES module entry)"
npm run --silent build:ts

echo "== node_modules closure of: ${runtime_roots[*]}"
# Walks package-lock.json the way Node resolves packages (nearest node_modules upwards), through
# dependencies, optionalDependencies and installed peerDependencies, keeping only what is on disk
# (sharp's per-platform packages are optional: only this platform's are installed).
module_list=$(mktemp)
trap 'rm -f "$module_list"' EXIT
node - "${runtime_roots[@]}" > "$module_list" <<'JS'
const fs = require('fs');
const path = require('path');
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const entries = lock.packages;
const resolve = (from, name) => {
  for (let dir = from; ; ) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (entries[candidate]) return candidate;
    if (!dir) return undefined;
    const parent = dir.lastIndexOf('/node_modules/');
    dir = parent < 0 ? '' : dir.slice(0, parent);
  }
};
const chosen = new Set();
const visit = (key) => {
  if (!key || chosen.has(key) || !fs.existsSync(key)) return;
  chosen.add(key);
  const entry = entries[key];
  const names = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
  for (const name of Object.keys(names)) visit(resolve(key, name));
};
for (const name of process.argv.slice(2)) {
  const key = resolve('', name);
  if (!key || !fs.existsSync(key)) throw new Error(`${name} is not installed: run npm ci first`);
  visit(key);
}
// A nested package lies inside its parent's folder: list only the outermost folders for tar.
const folders = [...chosen].sort().filter((k, _, all) => !all.some((o) => o !== k && k.startsWith(`${o}/`)));
process.stdout.write(folders.join('\n') + '\n');
console.error(`${chosen.size} packages in ${folders.length} top-level folders`);
JS
grep -E 'onnxruntime|typescript' "$module_list" && { echo "gpu-pack: unexpected package in the closure" >&2; exit 1; }
tar -cJf .device/runtime.tar.xz --exclude='*.map' -T "$module_list" dist
ls -la .device/runtime.tar.xz

echo "== reference material into .device/shared.tar.xz"
staging=$(mktemp -d)
trap 'rm -f "$module_list"; rm -rf "$staging"' EXIT
mkdir -p "$staging/shared/fixtures" "$staging/shared/weights"
cp "$shared/SPEC.md" "$staging/shared/"
cp -r "$shared/fixtures/enhance" "$shared/fixtures/losses" "$staging/shared/fixtures/"
[[ -d "$shared/fixtures/ciede2000" ]] && cp -r "$shared/fixtures/ciede2000" "$staging/shared/fixtures/"
cp "$shared/weights/flwnet-official.pth" "$staging/shared/weights/"
# The packed float32 file the standalone C++ check reads, made by the package's own loader.
node -e '
const fs = require("fs");
const { loadWeights } = require("./dist");
loadWeights(process.argv[1]).then((w) => {
  const packed = w.packed();
  fs.writeFileSync(process.argv[2], Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength));
  console.log(`packed ${packed.length} parameters`);
});' "$staging/shared/weights/flwnet-official.pth" "$staging/shared/weights/flwnet-official.f32"
rm -rf .device/shared
tar -C "$staging" -cJf .device/shared.tar.xz shared
ls -la .device/shared.tar.xz

echo "== size carried to the device"
repo_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
device_bytes=$(du -sb .device | cut -f1)
total_bytes=$((repo_bytes + device_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
du -sh .device/* | sed 's/^/  /'
echo "checkout: $(mib "$repo_bytes"), .device: $(mib "$device_bytes"), total: $(mib "$total_bytes") (limit ${limit_mib} MiB)"
# Everything in .device is copied to the GPU machine, including folders this script did not make.
others=$(find .device -mindepth 1 -maxdepth 1 ! -name node.tar.xz ! -name runtime.tar.xz ! -name shared.tar.xz -printf '%f ')
[[ -n $others ]] && echo "note: .device also holds ${others}(not made by this script; they are copied too)"
if ((total_bytes > limit_mib * 1048576)); then
  echo "gpu-pack: over the ${limit_mib} MiB budget${others:+; moving ${others}out of .device would help}" >&2
  exit 1
fi
cat <<'TXT'
Copy the checkout with .device/ to the GPU machine and run there: bash scripts/gpu-run.sh
  (steps: FLWNET_GPU_STEPS=build,check,test,cpu,bench; default all; e.g. FLWNET_GPU_STEPS=build,test bash scripts/gpu-run.sh)
TXT
