import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoreReport {
  /** `host/namespace/model:tag` of every manifest Ollama would list. */
  readonly models: string[];
  /** Hex digests of the files in blobs/. */
  readonly blobs: string[];
  /** Everything Ollama would choke on, prune, or list wrongly. Empty for a valid store. */
  readonly problems: string[];
}

const BLOB_NAME = /^sha256-[0-9a-f]{64}$/;
const DIGEST = /^sha256:([0-9a-f]{64})$/;

/**
 * Reads a models dir the way Ollama does (written from Ollama's rules, independently of the code under
 * test): manifests are the files matching `manifests/*\/*\/*\/*`; every blob a manifest names must be in
 * blobs/ with the right size and sha256; blobs/ holds only digest-named files whose content matches the
 * name; nothing else anywhere under manifests/ or blobs/ (Ollama would list or prune it).
 */
export async function checkOllamaStore(modelsDir: string, options: { allowUnreferenced?: boolean } = {}): Promise<StoreReport> {
  const problems: string[] = [];
  const blobs: string[] = [];
  for (const entry of await readdir(join(modelsDir, 'blobs'), { withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile() || !BLOB_NAME.test(entry.name)) {
      problems.push(`blobs/${entry.name}: not a digest-named file (Ollama prunes it)`);
      continue;
    }
    const path = join(modelsDir, 'blobs', entry.name);
    const hex = await sha256File(path);
    if (`sha256-${hex}` !== entry.name) problems.push(`blobs/${entry.name}: content hashes to ${hex}`);
    if (((await stat(path)).mode & 0o444) !== 0o444) problems.push(`blobs/${entry.name}: not readable by everyone`);
    blobs.push(entry.name.slice(7));
  }

  const models: string[] = [];
  const referenced = new Set<string>();
  for (const file of await walk(join(modelsDir, 'manifests'))) {
    const parts = file.split('/');
    if (parts.length !== 4) {
      problems.push(`manifests/${file}: not at manifests/<host>/<namespace>/<model>/<tag>`);
      continue;
    }
    const name = `${parts.slice(0, 3).join('/')}:${parts[3]}`;
    let manifest: { config?: { digest?: string; size?: number }; layers?: { digest?: string; size?: number }[] };
    try {
      manifest = JSON.parse(await readFile(join(modelsDir, 'manifests', file), 'utf8'));
    } catch {
      problems.push(`manifests/${file}: not JSON`);
      continue;
    }
    for (const layer of [manifest.config, ...(manifest.layers ?? [])]) {
      const hex = DIGEST.exec(layer?.digest ?? '')?.[1];
      if (!hex) {
        problems.push(`${name}: bad digest ${JSON.stringify(layer?.digest)}`);
        continue;
      }
      referenced.add(hex);
      const found = await stat(join(modelsDir, 'blobs', `sha256-${hex}`)).catch(() => undefined);
      if (!found) problems.push(`${name}: blob sha256:${hex} is missing`);
      else if (found.size !== layer?.size) problems.push(`${name}: blob sha256:${hex} has ${found.size} bytes, manifest says ${layer?.size}`);
    }
    models.push(name);
  }
  if (!options.allowUnreferenced) {
    for (const hex of blobs) if (!referenced.has(hex)) problems.push(`blobs/sha256-${hex}: no manifest references it (Ollama prunes it)`);
  }
  return { models: models.sort(), blobs: blobs.sort(), problems };
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Every file below dir, as paths relative to it. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await walk(dir, rel)));
    else out.push(rel);
  }
  return out;
}
