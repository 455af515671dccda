/** Pairing low-light images with their references by file name (used by `flwnet eval` and training on pairs). */
import path from 'node:path';

/** A low-light image and its reference, both named `name` apart from their extensions. */
export interface Pair {
  name: string;
  input: string;
  reference: string;
}

/** Pairs files by base name; a name held twice in one directory (a.png, a.jpg) is ambiguous. */
export function pairFiles(inputs: string[], references: string[]): { pairs: Pair[]; unpaired: string[] } {
  const byName = (files: string[]) => {
    const map = new Map<string, string[]>();
    for (const file of files) {
      const name = path.basename(file, path.extname(file));
      map.set(name, [...(map.get(name) ?? []), file]);
    }
    return map;
  };
  const inputNames = byName(inputs);
  const referenceNames = byName(references);
  const pairs: Pair[] = [];
  const unpaired: string[] = [];
  for (const [name, files] of inputNames) {
    const refs = referenceNames.get(name);
    if (files.length === 1 && refs?.length === 1) pairs.push({ name, input: files[0], reference: refs[0] });
    else unpaired.push(...files);
  }
  for (const [name, refs] of referenceNames) {
    if (inputNames.get(name)?.length !== 1 || refs.length !== 1) unpaired.push(...refs);
  }
  return { pairs: pairs.sort((a, b) => a.name.localeCompare(b.name)), unpaired: [...new Set(unpaired)].sort() };
}
