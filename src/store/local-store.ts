import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PushError } from '../errors.js';
import { blobFileName, type Digest, digestString } from './digest.js';
import { type Manifest, parseManifest } from './manifest.js';
import { displayName, manifestSegments, type ModelName, modelNameFromSegments, sameModelName } from './model-name.js';

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

  /**
   * Every model name on disk, found the way Ollama finds them: the glob `manifests/*\/*\/*\/*`, whose
   * matches are stat-ed, so a symlinked model directory or tag file is a model. A file whose path is not
   * a name Ollama accepts (a tag with a trailing space, a dot-file) is skipped, as Ollama skips it.
   */
  async listNames(): Promise<ModelName[]> {
    await this.assertExists();
    const names: ModelName[] = [];
    const manifests = join(this.modelsDir, 'manifests');
    for (const host of await entries(manifests, 'directory')) {
      for (const namespace of await entries(join(manifests, host), 'directory')) {
        for (const model of await entries(join(manifests, host, namespace), 'directory')) {
          for (const tag of await entries(join(manifests, host, namespace, model), 'file')) {
            const name = modelNameFromSegments(host, namespace, model, tag);
            if (name) names.push(name);
          }
        }
      }
    }
    return names.sort((a, b) => displayName(a).localeCompare(displayName(b)));
  }

  /**
   * Finds a model whatever the case of the name given, as Ollama matches names against what is on
   * disk; the exact spelling wins when two case variants are stored. Suggests close names when none is.
   */
  async readModel(requested: ModelName): Promise<LocalModel> {
    const names = await this.listNames();
    const spelling = (n: ModelName) => manifestSegments(n).join('/');
    const name = names.find((n) => spelling(n) === spelling(requested)) ?? names.find((n) => sameModelName(n, requested));
    if (!name) {
      const hint = closestNames(displayName(requested), names.map(displayName));
      throw new PushError(
        `model ${displayName(requested)} not found in ${this.modelsDir}` +
          (hint.length ? `; did you mean ${hint.join(' or ')}?` : '; run `ollama-push list` to see the local models'),
        { side: 'usage' },
      );
    }
    return this.read(name);
  }

  /** Reads the model of a name as listNames gives it, spelled as on disk. */
  async read(name: ModelName): Promise<LocalModel> {
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

/** The entries of `dir` that are directories, or regular files, after following symbolic links. */
async function entries(dir: string, kind: 'directory' | 'file'): Promise<string[]> {
  const names = await readdir(dir).catch(() => []);
  const kinds = await Promise.all(names.map((name) => stat(join(dir, name)).catch(() => undefined)));
  return names.filter((_, i) => (kind === 'directory' ? kinds[i]?.isDirectory() : kinds[i]?.isFile()));
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
