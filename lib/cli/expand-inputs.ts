/**
 * Turns `flwnet enhance` arguments (files, directories, glob patterns) into a list of jobs, each an
 * input file and the output file it maps to. Directories and patterns mirror their tree under the
 * output directory. Patterns are expanded here (not only by the shell) so quoted patterns work
 * everywhere: `*` and `?` within a name, `[abc]` classes, `**` for any depth of directories.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { OutputFormat } from '../options';

export interface EnhanceJob {
  input: string;
  output: string;
  /** The format to write, from --format or the output's extension. */
  format?: OutputFormat;
}

export interface MissingInput {
  input: string;
  message: string;
}

export interface InputPlan {
  jobs: EnhanceJob[];
  /** Arguments that named nothing readable, reported as failures. */
  missing: MissingInput[];
}

export interface PlanOptions {
  /** -o: a file for a single input, else a directory. */
  output?: string;
  recursive: boolean;
  format?: OutputFormat;
}

/** Extensions picked up from directories and patterns (explicitly named files are always taken). */
const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg', 'jpeg', 'jpe', 'jfif', 'png', 'webp', 'avif', 'tif', 'tiff', 'gif', 'heic', 'heif', 'jxl', 'jp2',
]);
const EXTENSION_FORMATS: Readonly<Record<string, OutputFormat>> = {
  jpg: 'jpeg', jpeg: 'jpeg', jpe: 'jpeg', jfif: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', tif: 'tiff', tiff: 'tiff', gif: 'gif',
};

/** The format named by a file's extension, when it is one flwnet writes. */
export function formatFromExtension(file: string): OutputFormat | undefined {
  return EXTENSION_FORMATS[path.extname(file).slice(1).toLowerCase()];
}

export function hasGlobChars(text: string): boolean {
  return /[*?[]/.test(text);
}

function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(file).slice(1).toLowerCase());
}

async function statOrUndefined(file: string) {
  try {
    return await fs.stat(file);
  } catch {
    return undefined;
  }
}

/**
 * True when the arguments are one plain input file whose result goes to one output file (the
 * single-image form): one argument that is neither a directory nor a pattern, and an output that
 * is not a directory.
 */
export async function isSingleFileForm(inputs: string[], output: string | undefined): Promise<boolean> {
  if (inputs.length !== 1) return false;
  const input = inputs[0];
  const inputStat = await statOrUndefined(input);
  if (inputStat?.isDirectory() || (!inputStat && hasGlobChars(input))) return false;
  if (output === undefined) return true;
  return !(/[\\/]$/.test(output) || (await statOrUndefined(output))?.isDirectory());
}

/** The output for an input enhanced on its own without -o: `<name>-enhanced.<ext>` beside it. */
export function defaultOutputPath(input: string, format?: OutputFormat): string {
  const ext = path.extname(input);
  const base = input.slice(0, input.length - ext.length);
  return `${base}-enhanced${format ? extensionFor(format) : ext}`;
}

function extensionFor(format: OutputFormat): string {
  return `.${format === 'jpeg' ? 'jpg' : format}`;
}

/** `relative` placed under `outputDir`, its extension changed to the format written when needed. */
function mirroredOutput(outputDir: string, relative: string, format?: OutputFormat): string {
  const target = path.join(outputDir, relative);
  const ext = path.extname(target);
  if (format) return target.slice(0, target.length - ext.length) + extensionFor(format);
  // Inputs in a format sharp reads but does not write (HEIF, JPEG XL, ...) become PNG.
  return formatFromExtension(target) ? target : target.slice(0, target.length - ext.length) + '.png';
}

/** Files under `dir`, sorted; all depths with `recursive`. Hidden entries and `skipDir` are left out. */
export async function listDirectory(dir: string, recursive: boolean, skipDir?: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (current: string): Promise<void> => {
    const entries = await fs.readdir(current, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        // Symbolic links to directories are not followed, so a link cycle cannot trap the walk.
        if (recursive && path.resolve(full) !== skipDir) await visit(full);
      } else if (await isFileEntry(entry, full)) {
        found.push(full);
      }
    }
  };
  await visit(dir);
  return found;
}

async function isFileEntry(entry: { isFile(): boolean; isSymbolicLink(): boolean }, full: string): Promise<boolean> {
  if (entry.isFile()) return true;
  return entry.isSymbolicLink() && ((await statOrUndefined(full))?.isFile() ?? false);
}

/** A pattern split into the directory it starts from and the segments to match below it. */
export function splitPattern(pattern: string): { base: string; segments: string[] } {
  const parts = pattern.split(/[\\/]+/);
  const absolute = path.isAbsolute(pattern);
  let fixed = 0;
  while (fixed < parts.length - 1 && !hasGlobChars(parts[fixed])) fixed += 1;
  const baseParts = parts.slice(0, fixed);
  const base = absolute ? path.sep + baseParts.filter(Boolean).join(path.sep) : baseParts.join(path.sep) || '.';
  return { base, segments: parts.slice(fixed).filter((part) => part !== '' && part !== '.') };
}

/** A regular expression for one path segment: `*`, `?` and `[...]`; wildcards do not match a leading dot. */
export function segmentPattern(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else if (ch === '[' && segment.indexOf(']', i + 2) > i) {
      const end = segment.indexOf(']', i + 2);
      const body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
      source += body.startsWith('!') ? `[^${body.slice(1)}]` : `[${body}]`;
      i = end;
    } else source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const hidden = segment.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${hidden}${source}$`);
}

/** Files matching `pattern`, sorted, with the directory the pattern's fixed prefix names. */
export async function expandPattern(pattern: string, skipDir?: string): Promise<{ base: string; files: string[] }> {
  const { base, segments } = splitPattern(pattern);
  const found = new Set<string>();
  const walk = async (dir: string, index: number): Promise<void> => {
    const segment = segments[index];
    const last = index === segments.length - 1;
    if (segment === '**' && !last) await walk(dir, index + 1); // `**` also matches no directory at all
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    const matcher = segment === '**' ? undefined : segmentPattern(segment);
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (matcher ? !matcher.test(entry.name) : entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) {
        if (path.resolve(full) === skipDir) continue;
        if (segment === '**') await walk(full, index);
        else if (!last) await walk(full, index + 1);
      } else if (last && (await isFileEntry(entry, full))) {
        found.add(full);
      }
    }
  };
  if (segments.length > 0) await walk(base, 0);
  return { base, files: [...found].sort() };
}

/** Expands the arguments into jobs; throws a plain Error (a usage problem) for clashing outputs. */
export async function planJobs(inputs: string[], options: PlanOptions): Promise<InputPlan> {
  if (await isSingleFileForm(inputs, options.output)) {
    const input = inputs[0];
    const output = options.output ?? defaultOutputPath(input, options.format);
    return { jobs: [{ input, output, format: options.format ?? formatFromExtension(output) }], missing: [] };
  }
  if (options.output === undefined) throw new Error('enhancing a directory, a pattern or several files needs -o <directory>');
  const outputDir = options.output;
  const skipDir = path.resolve(outputDir);
  const plan: InputPlan = { jobs: [], missing: [] };
  const seen = new Map<string, string>(); // output -> input, to catch two inputs writing one file
  const add = (input: string, relative: string) => {
    const output = mirroredOutput(outputDir, relative, options.format);
    const key = path.resolve(output);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      if (path.resolve(earlier) === path.resolve(input)) return; // named twice: enhanced once
      throw new Error(`${earlier} and ${input} would both be written to ${output}`);
    }
    if (key === path.resolve(input)) throw new Error(`${input} would be overwritten by its own output (choose another -o)`);
    seen.set(key, input);
    plan.jobs.push({ input, output, format: options.format ?? formatFromExtension(output) });
  };
  for (const input of inputs) {
    const stat = await statOrUndefined(input);
    if (stat?.isDirectory()) {
      const files = (await listDirectory(input, options.recursive, skipDir)).filter(isImageFile);
      if (files.length === 0) plan.missing.push({ input, message: 'no images in this directory' });
      for (const file of files) add(file, path.relative(input, file));
    } else if (stat) {
      add(input, path.basename(input));
    } else if (hasGlobChars(input)) {
      const { base, files } = await expandPattern(input, skipDir);
      const images = files.filter(isImageFile);
      if (images.length === 0) plan.missing.push({ input, message: 'no images match this pattern' });
      for (const file of images) add(file, path.relative(base, file));
    } else {
      plan.missing.push({ input, message: 'no such file or directory' });
    }
  }
  return plan;
}
