#!/usr/bin/env node
// Writes bench/network_graph.json, the network graph of native/core/network_graph.h as JSON, from
// the built addon, for the PyTorch twin (bench/torch_flwnet.py) to build its model from.
// test/network-graph.test.mjs fails when the file and the addon disagree: run this after changing
// the graph.  Usage: node scripts/export-graph.mjs [--check]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadNative } = createRequire(import.meta.url)(path.join(root, 'dist', 'native.js'));
const target = path.join(root, 'bench', 'network_graph.json');
const text = `${JSON.stringify(loadNative().networkGraph(), null, 2)}\n`;
if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error(`${path.relative(root, target)} is out of date: run node scripts/export-graph.mjs`);
    process.exit(1);
  }
} else {
  fs.writeFileSync(target, text);
  console.log(`wrote ${path.relative(root, target)}`);
}
