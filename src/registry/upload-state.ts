import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** An upload in progress: where the registry takes its next bytes, and how many it had confirmed. */
export interface SavedUpload {
  readonly registry: string;
  readonly repository: string;
  readonly hex: string;
  /** The upload URL the registry gave last, relative to the registry when it is on the same origin. */
  readonly location: string;
  /** The offset the registry confirmed with that URL (the registry's word is asked again before use). */
  readonly offset: number;
  readonly updated: string;
}

/** `$XDG_STATE_HOME/ollama-push`, by default `~/.local/state/ollama-push`: what registry pushes remember. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'ollama-push');
}

/**
 * The upload URLs of unfinished blob uploads, one small file per registry, repository and blob (so
 * parallel runs never rewrite each other's), written atomically, private to the user: a killed run
 * leaves them for the next run to resume from.
 */
export class UploadState {
  readonly dir: string;

  /** `stateDir`: see defaultStateDir. */
  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'registry-uploads');
  }

  async load(registry: string, repository: string, hex: string): Promise<SavedUpload | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.file(registry, repository, hex), 'utf8')) as SavedUpload;
      const valid =
        saved.registry === registry &&
        saved.repository === repository &&
        saved.hex === hex &&
        typeof saved.location === 'string' &&
        Number.isSafeInteger(saved.offset) &&
        saved.offset >= 0;
      return valid ? saved : undefined;
    } catch {
      return undefined;
    }
  }

  async save(upload: Omit<SavedUpload, 'updated'>): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(upload.registry, upload.repository, upload.hex);
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify({ ...upload, updated: new Date().toISOString() }), { mode: 0o600 });
    await rename(temp, file);
  }

  async remove(registry: string, repository: string, hex: string): Promise<void> {
    await rm(this.file(registry, repository, hex), { force: true });
  }

  private file(registry: string, repository: string, hex: string): string {
    const key = createHash('sha256').update(`${registry}\n${repository}\n${hex}`).digest('hex').slice(0, 32);
    return path.join(this.dir, `${key}.json`);
  }
}
