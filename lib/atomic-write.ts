/** Writing a file so that readers see the old content or the new, never a partial file. */
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `data` to a hidden temporary file beside `file` and renames it into place; on failure
 * the temporary file is removed and the error rethrown. The temporary name is
 * `.<name>.<pid>.partial`, or `.<name>.<pid>.<tag>.partial` with a tag (a file-name-safe string that
 * tells apart writers of the same file, such as a queue job id, so their leftovers can be found).
 */
export async function writeFileAtomically(file: string, data: Uint8Array, tag?: string): Promise<void> {
  const suffix = tag === undefined ? 'partial' : `${tag}.partial`;
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${suffix}`);
  try {
    await fs.writeFile(temporary, data, { flag: 'wx' });
    await fs.rename(temporary, file);
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}
