/**
 * ollama-push as a library: the CLI is a thin layer over these functions.
 *
 *   import { openDestination, push } from 'ollama-push';
 *   const destination = await openDestination({ host: 'homelab-1', remotePath: '/var/mnt/local-hostpath/pvc-6f1c2a9e' });
 *   try { await push({ models: ['qwen3:4b'], destination }); } finally { await destination.close(); }
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type ExportResult, exportArchiveToFile } from './archive/export-archive.js';
import { type ImportResult, importArchive as importFromStream } from './archive/import-archive.js';
import type { Destination } from './destination/destination.js';
import { LocalStore } from './store/local-store.js';
import { manifestId, manifestSize } from './store/manifest.js';
import { displayName, parseModelName } from './store/model-name.js';
import { defaultModelsDir } from './store/models-dir.js';
import { BandwidthLimit, parseRate } from './transfer/bandwidth-limit.js';
import type { PushEventListener } from './transfer/events.js';
import { localBlobSource } from './transfer/local-source.js';
import { DEFAULT_RANGE_SIZE } from './transfer/plan.js';
import { type DiffResult, diff as diffModels, type PushResult, push as pushModels } from './transfer/push.js';

export type { Destination, DestinationState } from './destination/destination.js';
export { type DestinationSpec, openDestination } from './destination/open-destination.js';
export { EXIT, PushError } from './errors.js';
export type { PushEvent, PushEventListener } from './transfer/events.js';
export type { BlobPlan, TransferPlan } from './transfer/plan.js';
export type { DiffResult, PushResult, ExportResult, ImportResult };

interface LocalRequest {
  /** The local models dir (default: $OLLAMA_MODELS, else ~/.ollama/models). */
  readonly modelsDir?: string;
}

export interface PushRequest extends LocalRequest {
  /** Model names as Ollama takes them: `qwen3:4b`, `hf.co/org/Repo-GGUF:Q4_K_M`. */
  readonly models: readonly string[];
  readonly destination: Destination;
  /** Parallel transfers (default: from the measured round trip). */
  readonly jobs?: number;
  /** Large blobs go in ranges of at most this many bytes (default 64 MiB), evened out over the channels, each resumable. */
  readonly rangeSize?: number;
  /** Create the remote path when it does not exist. */
  readonly createRemotePath?: boolean;
  /** Reconnect and resume this many times after a dropped connection (default 5). */
  readonly retries?: number;
  /** Also hash the destination's blobs of the models (like rsync -c). */
  readonly verify?: boolean;
  /** Cap the rate: bytes per second, or rsync-style text such as "50M". */
  readonly bandwidthLimit?: number | string;
  readonly onEvent?: PushEventListener;
  readonly signal?: AbortSignal;
}

async function readLocal(request: LocalRequest & { models: readonly string[] }) {
  const local = new LocalStore(request.modelsDir ?? defaultModelsDir());
  const names = request.models.map(parseModelName);
  const models = [];
  for (const name of names) models.push(await local.readModel(name));
  return { local, models };
}

/** Copies models to the destination: only the blobs it lacks, verified there, each manifest last. */
export async function push(request: PushRequest): Promise<PushResult> {
  const { local, models } = await readLocal(request);
  const rate = typeof request.bandwidthLimit === 'string' ? parseRate(request.bandwidthLimit) : (request.bandwidthLimit ?? 0);
  return pushModels({
    local,
    models,
    destination: request.destination,
    source: localBlobSource(local, rate > 0 ? { bandwidthLimit: new BandwidthLimit(rate) } : {}),
    jobs: request.jobs,
    rangeSize: request.rangeSize ?? DEFAULT_RANGE_SIZE,
    createRemotePath: request.createRemotePath ?? false,
    retries: request.retries ?? 5,
    verify: request.verify ?? false,
    ...(request.onEvent ? { onEvent: request.onEvent } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
}

/** What the destination lacks of the models (the digest diff); writes nothing. */
export async function diff(request: LocalRequest & { models: readonly string[]; destination: Destination; verify?: boolean }): Promise<DiffResult> {
  const { models } = await readLocal(request);
  return diffModels({ destination: request.destination, models, rangeSize: DEFAULT_RANGE_SIZE, verify: request.verify ?? false });
}

/** The models of the local store, as `ollama list` names them: name, id (short manifest sha256), size. */
export async function list(request: LocalRequest = {}): Promise<{ name: string; id: string; size: number }[]> {
  const local = new LocalStore(request.modelsDir ?? defaultModelsDir());
  const models = [];
  for (const name of await local.listNames()) {
    const model = await local.read(name);
    models.push({ name: displayName(model.name), id: manifestId(model.manifest), size: manifestSize(model.manifest) });
  }
  return models;
}

/** Writes the models to a tar (blobs first, manifests last) that `importArchive` or `tar -x` reads. */
export async function exportArchive(request: LocalRequest & { models: readonly string[]; output: string; onEvent?: PushEventListener }): Promise<ExportResult> {
  const { local, models } = await readLocal(request);
  return exportArchiveToFile(request.output, { local, models, label: request.output, ...(request.onEvent ? { onEvent: request.onEvent } : {}) });
}

/** Sends the models of an archive made by `exportArchive` to the destination, with push's rules. */
export async function importArchive(request: {
  archive: string;
  destination: Destination;
  createRemotePath?: boolean;
  retries?: number;
  onEvent?: PushEventListener;
}): Promise<ImportResult> {
  const archiveSize = (await stat(request.archive)).size;
  return importFromStream({
    open: () => createReadStream(request.archive, { highWaterMark: 1024 * 1024 }),
    label: request.archive,
    archiveSize,
    destination: request.destination,
    createRemotePath: request.createRemotePath ?? false,
    retries: request.retries ?? 5,
    ...(request.onEvent ? { onEvent: request.onEvent } : {}),
  });
}
