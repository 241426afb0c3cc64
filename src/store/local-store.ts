import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PushError } from '../errors.js';
import { blobFileName, type Digest, digestString } from './digest.js';
import { type Manifest, parseManifest } from './manifest.js';
import { displayName, manifestSegments, type ModelName, parseModelName, sameModelName } from './model-name.js';

export interface LocalModel {
  readonly name: ModelName;
  readonly manifest: Manifest;
  readonly manifestPath: string;
}

/** The local Ollama store: `manifests/<host>/<namespace>/<model>/<tag>` and `blobs/sha256-<hex>`. */
export class LocalStore {
  constructor(readonly modelsDir: string) {}

  blobPath(digest: Digest): string {
    return join(this.modelsDir, 'blobs', blobFileName(digest));
  }

  /** Every model name on disk, found the way Ollama finds them: the glob `manifests/*\/*\/*\/*`. */
  async listNames(): Promise<ModelName[]> {
    await this.assertExists();
    const names: ModelName[] = [];
    for (const host of await subdirs(join(this.modelsDir, 'manifests'))) {
      for (const namespace of await subdirs(join(this.modelsDir, 'manifests', host))) {
        for (const model of await subdirs(join(this.modelsDir, 'manifests', host, namespace))) {
          const dir = join(this.modelsDir, 'manifests', host, namespace, model);
          for (const entry of await readdir(dir, { withFileTypes: true })) {
            if (!entry.isFile()) continue;
            try {
              names.push(parseModelName(`${host}/${namespace}/${model}:${entry.name}`));
            } catch {
              // Not a name Ollama would accept either; Ollama skips such files too.
            }
          }
        }
      }
    }
    return names.sort((a, b) => displayName(a).localeCompare(displayName(b)));
  }

  /** Finds a model case-insensitively, as Ollama does; suggests close names when there is none. */
  async readModel(requested: ModelName): Promise<LocalModel> {
    const names = await this.listNames();
    const name = names.find((n) => sameModelName(n, requested));
    if (!name) {
      const hint = closestNames(displayName(requested), names.map(displayName));
      throw new PushError(
        `model ${displayName(requested)} not found in ${this.modelsDir}` +
          (hint.length ? `; did you mean ${hint.join(' or ')}?` : '; run `ollama-push list` to see the local models'),
        { side: 'usage' },
      );
    }
    const manifestPath = join(this.modelsDir, 'manifests', ...manifestSegments(name));
    const manifest = parseManifest(await readFile(manifestPath), manifestPath);
    return { name, manifest, manifestPath };
  }

  /** Checks a blob exists with the size its manifest gives (its hash is checked while it is read). */
  async checkBlob(digest: Digest, size: number): Promise<void> {
    const path = this.blobPath(digest);
    const found = await stat(path).catch(() => undefined);
    if (!found?.isFile()) {
      throw new PushError(`local blob ${digestString(digest)} is missing (${path}); re-pull the model with ollama pull`, {
        side: 'local',
        digest: digestString(digest),
      });
    }
    if (found.size !== size) {
      throw new PushError(
        `local blob ${digestString(digest)} has ${found.size} bytes, its manifest says ${size}; re-pull the model with ollama pull`,
        { side: 'local', digest: digestString(digest) },
      );
    }
  }

  private async assertExists(): Promise<void> {
    const found = await stat(join(this.modelsDir, 'manifests')).catch(() => undefined);
    if (!found?.isDirectory()) {
      throw new PushError(
        `no Ollama store at ${this.modelsDir} (no manifests/ directory); pass --models-dir or set OLLAMA_MODELS`,
        { side: 'usage' },
      );
    }
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Names within a small edit distance, or sharing the requested model part, closest first. */
export function closestNames(wanted: string, candidates: string[]): string[] {
  const w = wanted.toLowerCase();
  const scored = candidates
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .filter(({ c, d }) => d <= Math.max(2, Math.floor(w.length / 3)) || c.toLowerCase().startsWith(w.split(':')[0]!))
    .sort((a, b) => a.d - b.d);
  return scored.slice(0, 3).map(({ c }) => c);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
