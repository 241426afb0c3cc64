import { createHash } from 'node:crypto';
import type { BlobRemoval, DestinationListing, ListedModel, RemovalReport } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { manifestId, manifestSize, parseManifest } from '../store/manifest.js';
import { displayName, manifestSegments, type ModelName, modelNameFromSegments } from '../store/model-name.js';
import { isDeadOwner } from './lock-owner.js';

/** Ollama's prune grace period (v0.21+): an unreferenced blob younger than this may be a pull in progress. */
export const PRUNE_GRACE_MINUTES = 60;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads list-store.sh's answer. Only what is checked here is taken: a manifest path whose four parts are
 * a model name, hex that is bytes, blob names that are digests. The manifest bytes come whole, so the
 * ID is computed here, as `ollama list` computes it.
 */
export function parseListing(text: string, location: string): DestinationListing & { layout: 'missing' | 'home' | 'models' } {
  const lines = text.split('\n');
  let layout: 'missing' | 'home' | 'models' = 'missing';
  const models: ListedModel[] = [];
  const skipped: string[] = [];
  const blobs: { hex: string; size: number; old: boolean }[] = [];
  // As prune.sh reads them: every sha256:<hex> a manifest file mentions (a superset of what it references).
  const referenced = new Set<string>();
  const staging: { name: string; bytes: number; live: boolean; owner: string | undefined }[] = [];
  let stagedBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const [kind, ...rest] = line.split(' ');
    if (kind === 'layout' && (rest[0] === 'home' || rest[0] === 'models')) layout = rest[0];
    else if (kind === 'manifest' && rest.length === 2) {
      const hex = lines[++i] ?? '';
      const path = rest[0]!;
      const parts = path.split('/');
      const name = parts.length === 4 ? modelNameFromSegments(parts[0]!, parts[1]!, parts[2]!, parts[3]!) : undefined;
      if (!name || !/^([0-9a-f]{2})*$/.test(hex)) {
        skipped.push(`invalid ${path}`);
        continue;
      }
      const bytes = Buffer.from(hex, 'hex');
      for (const match of bytes.toString('latin1').matchAll(/sha256[:-]([0-9a-fA-F]{64})/g)) referenced.add(match[1]!.toLowerCase());
      const seconds = Number(rest[1]);
      models.push(listedModel(name, bytes, Number.isSafeInteger(seconds) && rest[1] !== '-' ? new Date(seconds * 1000) : undefined, location));
    } else if (kind === 'odd' && rest.length >= 2) skipped.push(`${rest[0]} ${rest.slice(1).join(' ')}`);
    else if (kind === 'blob' && rest.length === 4 && HEX64.test(rest[0]!) && /^\d+$/.test(rest[2]!)) {
      if (rest[1] === '-') blobs.push({ hex: rest[0]!, size: Number(rest[2]), old: rest[3] === '1' });
    } else if (kind === 'staging' && rest.length >= 4 && /^\d+$/.test(rest[1]!)) {
      const owner = rest.slice(3).join(' ');
      staging.push({ name: rest[0]!, bytes: Number(rest[1]) * 1024, live: rest[2] === '1', owner: owner === '-' ? undefined : owner });
    } else if (kind === 'staged' && /^\d+$/.test(rest[0] ?? '')) stagedBytes = Number(rest[0]) * 1024;
  }
  return {
    layout,
    exists: layout !== 'missing',
    location,
    models: models.sort((a, b) => displayName(a.name).localeCompare(displayName(b.name))),
    unreferenced: blobs.filter((b) => !referenced.has(b.hex)),
    // What the entries take (an empty staging dir is nothing staged).
    stagedBytes: staging.length > 0 ? Math.max(stagedBytes, staging.reduce((sum, s) => sum + s.bytes, 0)) : 0,
    staging,
    skipped,
  };
}

function listedModel(name: ModelName, bytes: Buffer, modified: Date | undefined, location: string): ListedModel {
  try {
    const manifest = parseManifest(bytes, `${location}/manifests/${pathOf(name)}`);
    return { name, id: manifestId(manifest), size: manifestSize(manifest), modified, manifest };
  } catch (error) {
    const id = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
    return { name, id, size: 0, modified, manifest: undefined, problem: (error as Error).message.replace(/; re-pull .*$/, '') };
  }
}

/** `host/namespace/model/tag`: the path of a manifest under manifests/. */
export function pathOf(name: ModelName): string {
  return manifestSegments(name).join('/');
}

/** What prune.sh reads on stdin. The dead owners are the runs of this machine that are gone, among those the listing names. */
export function pruneInput(request: { models?: readonly ModelName[]; orphansMinutes?: number; staging?: boolean; owners: readonly (string | undefined)[] }): Buffer {
  const dead = [...new Set(request.owners.filter((o): o is string => o !== undefined && isDeadOwner(o)))];
  const lines = [
    ...dead.map((o) => `dead ${o}`),
    ...(request.models ?? []).map((m) => `model ${pathOf(m)}`),
    ...(request.orphansMinutes !== undefined ? [`orphans ${request.orphansMinutes}`] : []),
    ...(request.staging ? ['staging'] : []),
    '.',
  ];
  return Buffer.from(lines.map((l) => `${l}\n`).join(''));
}

const BLOB_OUTCOMES = new Set<BlobRemoval>(['removed', 'would', 'used', 'held', 'young', 'restored']);

/** Reads prune.sh's answer. */
export function parsePruneAnswer(text: string, location: string, dryRun: boolean, label: string): RemovalReport {
  const models: { path: string; outcome: 'removed' | 'would' | 'absent' }[] = [];
  const blobs: { hex: string; size: number; outcome: BlobRemoval }[] = [];
  const staging: { name: string; bytes: number; outcome: 'removed' | 'would' | 'live' }[] = [];
  let recovered = 0;
  let layout = false;
  for (const line of text.split('\n')) {
    const [kind, ...rest] = line.trim().split(' ');
    if (kind === 'layout') layout = true;
    else if (kind === 'model' && (rest[1] === 'removed' || rest[1] === 'would' || rest[1] === 'absent')) models.push({ path: rest[0]!, outcome: rest[1] });
    else if (kind === 'blob' && HEX64.test(rest[0] ?? '') && /^\d+$/.test(rest[1] ?? '') && BLOB_OUTCOMES.has(rest[2] as BlobRemoval)) {
      blobs.push({ hex: rest[0]!, size: Number(rest[1]), outcome: rest[2] as BlobRemoval });
    } else if (kind === 'staging' && /^\d+$/.test(rest[1] ?? '') && (rest[2] === 'removed' || rest[2] === 'would' || rest[2] === 'live')) {
      staging.push({ name: rest[0]!, bytes: Number(rest[1]) * 1024, outcome: rest[2] });
    } else if (kind === 'recovered') recovered++;
  }
  if (!layout) {
    throw new PushError(`unexpected answer from ${label} to remove: ${JSON.stringify(text.slice(0, 200))}`, { side: 'remote', retryable: true });
  }
  const gone = (outcome: string) => outcome === 'removed' || outcome === 'would';
  const bytesFreed = blobs.filter((b) => gone(b.outcome)).reduce((sum, b) => sum + b.size, 0) + staging.filter((s) => gone(s.outcome)).reduce((sum, s) => sum + s.bytes, 0);
  return { location, dryRun, models, blobs, staging, recovered, bytesFreed };
}
