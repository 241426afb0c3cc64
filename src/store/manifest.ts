import { createHash } from 'node:crypto';
import { PushError } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';

/** The one descriptor shape used everywhere: the manifest's own. */
export interface Descriptor {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

export interface Manifest {
  /** The exact bytes of the manifest file: published unchanged, since Ollama's model id is their sha256. */
  readonly bytes: Buffer;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

function invalidManifest(origin: string, why: string, cause?: unknown): PushError {
  return new PushError(`invalid manifest ${origin}: ${why}; re-pull the model locally (ollama pull) and try again`, {
    side: 'local',
    exitCode: 2,
    cause,
  });
}

function parseDescriptor(value: unknown, origin: string, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw invalidManifest(origin, `${where} is not an object`);
  const { digest, size, mediaType } = value as Record<string, unknown>;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalidManifest(origin, `${where}.size ${JSON.stringify(size)} is not a non-negative integer`);
  }
  if (typeof mediaType !== 'string') throw invalidManifest(origin, `${where}.mediaType is missing`);
  try {
    return { digest: parseDigest(digest, `${where}.digest`), size, mediaType };
  } catch (error) {
    throw invalidManifest(origin, (error as Error).message, error);
  }
}

/** Validates a manifest before anything is built from it. `origin` names the file in errors. */
export function parseManifest(bytes: Buffer, origin: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalidManifest(origin, 'not JSON', error);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidManifest(origin, 'not a JSON object');
  const { schemaVersion, config, layers } = json as Record<string, unknown>;
  if (schemaVersion !== 2) throw invalidManifest(origin, `schemaVersion ${JSON.stringify(schemaVersion)} is not 2`);
  if (!Array.isArray(layers)) throw invalidManifest(origin, 'layers is not a list');
  const manifest = {
    bytes,
    config: parseDescriptor(config, origin, 'config'),
    layers: layers.map((layer, i) => parseDescriptor(layer, origin, `layers[${i}]`)),
  };
  checkOneSizePerDigest(manifest, origin);
  return manifest;
}

/** A blob is sent, verified and published once by digest: two sizes for one digest cannot both be right. */
function checkOneSizePerDigest(manifest: Manifest, origin: string): void {
  const sizes = new Map<string, number>();
  for (const { digest, size } of [manifest.config, ...manifest.layers]) {
    const other = sizes.get(digest.hex);
    if (other !== undefined && other !== size) throw invalidManifest(origin, `sha256:${digest.hex} is listed with two sizes (${other} and ${size})`);
    sizes.set(digest.hex, size);
  }
}

/** Config first, then layers; each digest once. */
export function manifestBlobs(manifest: Manifest): Descriptor[] {
  const seen = new Set<string>();
  return [manifest.config, ...manifest.layers].filter((d) => !seen.has(d.digest.hex) && seen.add(d.digest.hex));
}

export function manifestSha256(manifest: Manifest): string {
  return createHash('sha256').update(manifest.bytes).digest('hex');
}

/** Ollama shows the first 12 hex digits of the manifest file's sha256 as the model id. */
export function manifestId(manifest: Manifest): string {
  return manifestSha256(manifest).slice(0, 12);
}

/** The size `ollama list` shows (manifest.Size): config and layers summed, a repeated digest each time. */
export function manifestSize(manifest: Manifest): number {
  return [manifest.config, ...manifest.layers].reduce((sum, d) => sum + d.size, 0);
}

/** `application/vnd.ollama.image.projector` -> `projector`. */
export function layerType(mediaType: string): string {
  return mediaType.startsWith('application/vnd.ollama.image.') ? mediaType.slice(29) : mediaType.includes('container.image') ? 'config' : mediaType;
}
