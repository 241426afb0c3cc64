import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Entries kept per registry (the most recent): a hint, not a catalogue. */
const MAX_ENTRIES = 50_000;

/**
 * Which repository of a registry this machine last saw holding each blob, so that a later push to
 * another repository can ask the registry to mount it instead of sending it. Only a hint: a registry
 * that no longer has the blob there just opens an ordinary upload.
 */
export class KnownBlobs {
  readonly dir: string;

  /** `stateDir`: see defaultStateDir. */
  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'registry-blobs');
  }

  /** hex -> repository, for one registry host. */
  async load(registry: string): Promise<Map<string, string>> {
    try {
      const json = JSON.parse(await readFile(this.file(registry), 'utf8')) as { registry?: unknown; blobs?: unknown };
      if (json.registry !== registry || typeof json.blobs !== 'object' || json.blobs === null) return new Map();
      return new Map(Object.entries(json.blobs as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch {
      return new Map();
    }
  }

  /** Adds these holders to what the file says now (another run may have written it since), newest last. */
  async record(registry: string, holders: ReadonlyMap<string, string>): Promise<void> {
    if (holders.size === 0) return;
    const merged = await this.load(registry);
    for (const [hex, repository] of holders) {
      merged.delete(hex);
      merged.set(hex, repository);
    }
    const kept = [...merged].slice(-MAX_ENTRIES);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(registry);
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify({ registry, blobs: Object.fromEntries(kept) }), { mode: 0o600 });
    await rename(temp, file);
  }

  private file(registry: string): string {
    return path.join(this.dir, `${createHash('sha256').update(registry).digest('hex').slice(0, 32)}.json`);
  }
}
