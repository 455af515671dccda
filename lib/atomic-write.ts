/** Writing a file so that readers see the old content or the new, never a partial file. */
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `data` to a hidden temporary file beside `file` and renames it into place; on failure
 * the temporary file is removed and the error rethrown.
 */
export async function writeFileAtomically(file: string, data: Uint8Array): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  try {
    await fs.writeFile(temporary, data, { flag: 'wx' });
    await fs.rename(temporary, file);
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}
