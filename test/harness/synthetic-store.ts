import { createHash, randomFill } from 'node:crypto';
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const randomFillAsync = promisify(randomFill);
const MiB = 1024 * 1024;
const CHUNK = 16 * MiB;

export interface SyntheticBlob {
  readonly path: string;
  readonly hex: string;
  readonly size: number;
}

export interface SyntheticStore {
  readonly modelsDir: string;
  /** Model names as the CLI takes them, e.g. `bench-0:latest`. */
  readonly models: readonly string[];
  /** The first model's large blob (what `ssh cat` sends). */
  readonly largeBlob: SyntheticBlob;
  /** Bytes of every file in blobs/ and manifests/: what a whole-store copy moves. */
  readonly bytes: number;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/**
 * Writes an Ollama store in the real on-disk format: one model per entry of `modelBlobMiB`, each with one
 * random (incompressible) model blob of that size, its own config, and small template, params and
 * license blobs they share.
 */
export async function writeSyntheticStore(modelsDir: string, modelBlobMiB: readonly number[]): Promise<SyntheticStore> {
  const blobsDir = join(modelsDir, 'blobs');
  await mkdir(blobsDir, { recursive: true });
  let bytes = 0;
  const small = async (mediaType: string, content: string): Promise<Descriptor> => {
    const blob = await writeBlob(blobsDir, Buffer.from(content));
    bytes += blob.size;
    return { mediaType, digest: `sha256:${blob.hex}`, size: blob.size };
  };
  const shared = [
    await small('application/vnd.ollama.image.template', '{{ .System }}\n{{ .Prompt }}'),
    await small('application/vnd.ollama.image.params', JSON.stringify({ stop: ['<|end|>'], temperature: 0.7 })),
    await small('application/vnd.ollama.image.license', 'MIT License\n\nSynthetic benchmark data.\n'),
  ];
  const models: string[] = [];
  const large: SyntheticBlob[] = [];
  for (const [i, mib] of modelBlobMiB.entries()) {
    const blob = await writeRandomBlob(blobsDir, mib * MiB);
    bytes += blob.size;
    large.push(blob);
    const layer = { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${blob.hex}`, size: blob.size };
    const config = await small(
      'application/vnd.docker.container.image.v1+json',
      JSON.stringify({ model_format: 'gguf', model_family: 'bench', model_type: `${i}`, rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    );
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config,
      layers: [layer, ...shared],
    });
    const file = join(modelsDir, 'manifests', 'registry.ollama.ai', 'library', `bench-${i}`, 'latest');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, manifest);
    bytes += Buffer.byteLength(manifest);
    models.push(`bench-${i}:latest`);
  }
  return { modelsDir, models, largeBlob: large[0], bytes };
}

async function writeBlob(blobsDir: string, content: Buffer): Promise<SyntheticBlob> {
  const hex = createHash('sha256').update(content).digest('hex');
  const path = join(blobsDir, `sha256-${hex}`);
  await writeFile(path, content);
  return { path, hex, size: content.length };
}

/** Streams random bytes to a temp file, hashing them on the way, then renames it to its digest. */
async function writeRandomBlob(blobsDir: string, size: number): Promise<SyntheticBlob> {
  const temp = join(blobsDir, 'incoming.tmp');
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(Math.min(CHUNK, size));
  const file = await open(temp, 'w');
  try {
    for (let written = 0; written < size; ) {
      const chunk = buffer.subarray(0, Math.min(buffer.length, size - written));
      await randomFillAsync(chunk);
      hash.update(chunk);
      await file.write(chunk);
      written += chunk.length;
    }
  } finally {
    await file.close();
  }
  const hex = hash.digest('hex');
  const path = join(blobsDir, `sha256-${hex}`);
  await rename(temp, path);
  return { path, hex, size };
}
