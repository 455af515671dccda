/**
 * Turns `flwnet enhance` arguments (files, directories, glob patterns) into a list of jobs, each an
 * input file and the output file it maps to. Directories and patterns mirror their tree under the
 * output directory. Patterns are expanded here (not only by the shell) so quoted patterns work
 * everywhere: `*` and `?` within a name, `[abc]` classes, `**` for any depth of directories.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { extensionFor, formatFromExtension, isImageFile } from '../formats';
import { OUTPUT_FORMATS, type OutputFormat } from '../options';

export { formatFromExtension };

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
  /** Files found in directories or patterns that are not enhanced, each with the reason. */
  ignored: MissingInput[];
}

export interface PlanOptions {
  /** -o: a file for a single input, else a directory. */
  output?: string;
  recursive: boolean;
  format?: OutputFormat;
  /** Allow an output to be its own input (written in place). */
  overwrite?: boolean;
}

export function hasGlobChars(text: string): boolean {
  return /[*?[]/.test(text);
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

/** `relative` placed under `outputDir`, its extension changed to the format written when needed. */
function mirroredOutput(outputDir: string, relative: string, format?: OutputFormat): string {
  const target = path.join(outputDir, relative);
  const ext = path.extname(target);
  if (format) return target.slice(0, target.length - ext.length) + extensionFor(format);
  // Inputs in a format sharp reads but does not write (HEIF, JPEG XL, ...) become PNG.
  return formatFromExtension(target) ? target : target.slice(0, target.length - ext.length) + '.png';
}

/** Files under `dir`, sorted; all depths with `recursive`. Hidden entries and `skipDir` are left out. */
export async function listDirectory(dir: string, recursive: boolean, skipDir?: string, ignored?: MissingInput[]): Promise<string[]> {
  const found: string[] = [];
  const visit = async (current: string): Promise<void> => {
    const entries = await fs.readdir(current, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        // Symbolic links to directories are not followed, so a link cycle cannot trap the walk.
        if (entry.name.startsWith('.') || path.resolve(full) === skipDir) continue;
        if (recursive) await visit(full);
        else ignored?.push({ input: full, message: 'a subdirectory (add -r to include it)' });
      } else if (await isFileEntry(entry, full)) {
        if (entry.name.startsWith('.')) ignored?.push({ input: full, message: 'a hidden file' });
        else found.push(full);
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
  // Case-insensitive, like the extension check of directory scans: *.jpg also finds IMG_1.JPG.
  return new RegExp(`^${hidden}${source}$`, 'i');
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
  if (inputs.length === 1 && inputs[0] === '-') return planStdin(options);
  if (await isSingleFileForm(inputs, options.output)) {
    const input = inputs[0];
    const output = options.output ?? defaultOutputPath(input, options.format);
    if (!options.overwrite && (await isSameFile(input, output))) {
      throw new Error(`${output} is the input itself; pass --overwrite to replace it in place`);
    }
    return { jobs: [{ input, output, format: outputFormatOf(output, options.format) }], missing: [], ignored: [] };
  }
  if (options.output === undefined) throw new Error('enhancing a directory, a pattern or several files needs -o <directory>');
  const outputDir = options.output;
  const skipDir = path.resolve(outputDir);
  const plan: InputPlan = { jobs: [], missing: [], ignored: [] };
  const seen = new Map<string, string>(); // output -> input, to catch two inputs writing one file
  const add = async (input: string, relative: string) => {
    const output = mirroredOutput(outputDir, relative, options.format);
    const key = path.resolve(output);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      if (path.resolve(earlier) === path.resolve(input)) return; // named twice: enhanced once
      throw new Error(`${earlier} and ${input} would both be written to ${output}`);
    }
    if (!options.overwrite && (await isSameFile(input, output))) {
      throw new Error(`${input} would be overwritten by its own output (choose another -o, or pass --overwrite)`);
    }
    seen.set(key, input);
    plan.jobs.push({ input, output, format: options.format ?? formatFromExtension(output) });
  };
  for (const input of inputs) {
    const stat = await statOrUndefined(input);
    if (stat?.isDirectory()) {
      const files = keepImages(await listDirectory(input, options.recursive, skipDir, plan.ignored), plan.ignored);
      if (files.length === 0) plan.missing.push({ input, message: 'no images in this directory' });
      for (const file of files) await add(file, path.relative(input, file));
    } else if (stat) {
      await add(input, path.basename(input));
    } else if (hasGlobChars(input)) {
      const { base, files } = await expandPattern(input, skipDir);
      const images = keepImages(files, plan.ignored);
      if (images.length === 0) plan.missing.push({ input, message: 'no images match this pattern' });
      for (const file of images) await add(file, path.relative(base, file));
    } else {
      plan.missing.push({ input, message: 'no such file or directory' });
    }
  }
  return plan;
}

/** The image files of `files`; the others are recorded in `ignored` with the reason. */
function keepImages(files: string[], ignored: MissingInput[]): string[] {
  const images: string[] = [];
  for (const file of files) {
    if (isImageFile(file)) images.push(file);
    else ignored.push({ input: file, message: `not an image file (extension "${path.extname(file) || 'none'}")` });
  }
  return images;
}

/** The format for an output file: --format, else its extension; an unknown extension is refused. */
function outputFormatOf(output: string, format?: OutputFormat): OutputFormat | undefined {
  if (format || output === '-') return format;
  const named = formatFromExtension(output);
  if (!named) {
    throw new Error(
      `cannot tell the output format from "${path.extname(output) || output}": give the output one of the extensions of ${OUTPUT_FORMATS.join(', ')}, or --format`,
    );
  }
  return named;
}

/** Stdin as the one input: -o names a file or "-" (stdout). */
function planStdin(options: PlanOptions): InputPlan {
  const output = options.output as string;
  return { jobs: [{ input: '-', output, format: outputFormatOf(output, options.format) }], missing: [], ignored: [] };
}

/**
 * True when `output` is `input` itself: the same path, or (when the output exists) the same file
 * reached through a symbolic link, a hard link or a case-insensitive file system.
 */
export async function isSameFile(input: string, output: string): Promise<boolean> {
  if (output === '-') return false;
  if (path.resolve(input) === path.resolve(output)) return true;
  const [a, b] = await Promise.all([statOrUndefined(input), statOrUndefined(output)]);
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
