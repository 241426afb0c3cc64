import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises';
import { pack as tarPack, type Pack } from 'tar-stream';
import { PushError } from '../errors.js';
import type { LocalModel, LocalStore } from '../store/local-store.js';
import { manifestBlobs } from '../store/manifest.js';
import { displayName } from '../store/model-name.js';
import type { PushEventListener } from '../transfer/events.js';
import { corruptLocalBlob, readBlobRange } from '../transfer/local-blob-reader.js';
import { type BlobPlan, plannedBlobs, planBlob } from '../transfer/plan.js';
import { blobEntryName, type FileEntryHeader, fileEntryHeader, manifestEntryName } from './archive-entries.js';

/** Takes one chunk of the archive; resolves when it may take the next (backpressure). */
export type ChunkWriter = (chunk: Buffer) => Promise<void>;

export interface ExportOptions {
  readonly local: LocalStore;
  readonly models: readonly LocalModel[];
  readonly write: ChunkWriter;
  /** Names the output in progress events ("destination"). */
  readonly label: string;
  readonly onEvent?: PushEventListener;
  /** The mtime of every entry (default: now, so that `tar -x` gives fresh files, as a push does). */
  readonly mtime?: Date;
  /** Stops the export (Ctrl-C): the archive is left incomplete, as after any failure. */
  readonly signal?: AbortSignal;
}

export interface ExportResult {
  readonly blobs: readonly BlobPlan[];
  /** Display names of the models in the archive. */
  readonly models: readonly string[];
  /** Bytes of the whole archive. */
  readonly bytes: number;
  readonly seconds: number;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Writes a tar of the models: every distinct blob once (`blobs/sha256-<hex>`), then every manifest
 * (`manifests/<host>/<namespace>/<model>/<tag>`, its exact bytes), so that a streaming reader sees
 * blobs before the manifests that need them. Each blob is hashed as it is read, and its last chunk is
 * held back until its digest matched: a corrupt blob stops the archive in the middle of that entry,
 * without the end-of-archive blocks, so no tar reader takes it for a whole archive.
 */
export async function exportArchive(options: ExportOptions): Promise<ExportResult> {
  const started = performance.now();
  const { local, onEvent } = options;
  const models = distinctModels(options.models);
  const blobs = exportPlan(models);
  for (const { descriptor } of blobs) {
    await local.checkBlob(descriptor.digest, descriptor.size);
    // A blob with no bytes has one possible digest; checked now, since its entry would carry no data to hold back.
    if (descriptor.size === 0 && descriptor.digest.hex !== EMPTY_SHA256) throw corruptLocalBlob(descriptor, local.blobPath(descriptor.digest));
  }
  onEvent?.({ type: 'plan', blobs: plannedBlobs(blobs), location: options.label, ollamaHome: false });

  const archive = tarPack();
  let bytes = 0;
  let outputFailure: unknown;
  const written = (async () => {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      await options.write(chunk).catch((error: unknown) => {
        outputFailure = error;
        throw error;
      });
    }
  })();
  // When the output fails (a closed pipe, a full disk), stop reading blobs at once.
  written.catch((error: unknown) => archive.destroy(error as Error));
  const abort = () => archive.destroy(new Error('interrupted'));
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    const mtime = options.mtime ?? new Date();
    for (const blob of blobs) await addBlob(archive, blob, local.blobPath(blob.descriptor.digest), mtime, onEvent);
    for (const model of models) {
      await openEntry(archive, fileEntryHeader(manifestEntryName(model.name), model.manifest.bytes.length, mtime)).writeAll(model.manifest.bytes);
    }
    archive.finalize();
    await written;
  } catch (error) {
    archive.destroy(error as Error);
    await written.catch(() => {});
    // A failed output makes everything else fail too: report the cause, not its echoes.
    throw outputError(outputFailure ?? error);
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
  return { blobs, models: models.map((m) => displayName(m.name)), bytes, seconds: (performance.now() - started) / 1000 };
}

/**
 * Exports into FILE.partial and renames it to FILE once the archive is complete and synced, so that a
 * failed export leaves no FILE (and removes the partial one).
 */
export async function exportArchiveToFile(path: string, options: Omit<ExportOptions, 'write'>): Promise<ExportResult> {
  const partial = `${path}.partial`;
  if ((await stat(path).catch(() => undefined))?.isDirectory()) {
    throw new PushError(`-o ${path} is a directory; give a file name, e.g. ${path.replace(/\/+$/, '')}/models.tar`, { side: 'usage' });
  }
  const file = await createPartial(partial);
  let closed = false;
  try {
    const result = await exportArchive({
      ...options,
      write: async (chunk) => {
        for (let offset = 0; offset < chunk.length; ) offset += (await file.write(chunk, offset)).bytesWritten;
      },
    });
    await file.sync();
    await file.close();
    closed = true;
    await rename(partial, path);
    return result;
  } catch (error) {
    if (!closed) await file.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Creates FILE.partial exclusively ('wx' is O_EXCL: it fails on any existing entry, a symlink too, and
 * never follows one), so an export cannot write through a link someone planted. An existing one is left
 * alone rather than removed: it may be another export's, still being written.
 */
async function createPartial(partial: string): Promise<FileHandle> {
  try {
    return await open(partial, 'wx', 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PushError(`${partial} already exists (another export writing it, or one that was killed); remove it and export again`, { side: 'local', cause: error });
    }
    throw new PushError(`cannot write ${partial}: ${code ?? (error as Error).message}; check the directory exists and is writable`, { side: 'usage', cause: error });
  }
}

/** A writer for a stream such as stdout: one chunk in flight, the next once the stream took it. */
export function streamWriter(stream: NodeJS.WritableStream): ChunkWriter {
  let failure: Error | undefined;
  // Without a listener, an EPIPE on stdout would crash the process instead of failing the export.
  stream.on('error', (error: Error) => (failure ??= error));
  return (chunk) =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      stream.write(chunk, (error) => (error ? reject(error) : failure ? reject(failure) : resolve()));
    });
}

/** One plan entry per distinct blob, in the order the models name them (config first). */
export function exportPlan(models: readonly LocalModel[]): BlobPlan[] {
  const byHex = new Map<string, { descriptor: BlobPlan['descriptor']; users: string[] }>();
  for (const model of models) {
    for (const descriptor of manifestBlobs(model.manifest)) {
      const entry = byHex.get(descriptor.digest.hex) ?? { descriptor, users: [] };
      entry.users.push(displayName(model.name));
      byHex.set(descriptor.digest.hex, entry);
    }
  }
  return [...byHex.values()].map(({ descriptor, users }) => planBlob(descriptor, undefined, users, Number.MAX_SAFE_INTEGER));
}

function distinctModels(models: readonly LocalModel[]): LocalModel[] {
  const byPath = new Map<string, LocalModel>();
  for (const model of models) byPath.set(manifestEntryName(model.name), model);
  return [...byPath.values()];
}

async function addBlob(archive: Pack, blob: BlobPlan, path: string, mtime: Date, onEvent: PushEventListener | undefined): Promise<void> {
  const { digest, size } = blob.descriptor;
  onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: 0 });
  const entry = openEntry(archive, fileEntryHeader(blobEntryName(digest), size, mtime));
  const data = readBlobRange({
    path,
    blob: blob.descriptor,
    range: { start: 0, end: size },
    onBytes: (n) => onEvent?.({ type: 'bytes', hex: digest.hex, bytes: n }),
  });
  let held: Buffer | undefined;
  // The stream ends without an error only once the whole blob matched its digest.
  for await (const chunk of data as AsyncIterable<Buffer>) {
    if (chunk.length === 0) continue;
    if (held) await entry.write(held);
    held = chunk;
  }
  await entry.writeAll(held ?? Buffer.alloc(0));
  onEvent?.({ type: 'blob-done', blob: blob.descriptor });
}

interface OpenEntry {
  write(chunk: Buffer): Promise<void>;
  /** Writes the last chunk and resolves once the entry is complete in the archive. */
  writeAll(last: Buffer): Promise<void>;
}

function openEntry(archive: Pack, header: FileEntryHeader): OpenEntry {
  let sink!: ReturnType<Pack['entry']>;
  const finished = new Promise<void>((resolve, reject) => {
    sink = archive.entry(header, (error) => (error ? reject(error) : resolve()));
  });
  finished.catch(() => {});
  sink.on('error', () => {}); // the same error reaches `finished`
  return {
    write: async (chunk) => {
      if (!sink.write(chunk)) await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), finished]);
    },
    writeAll: async (last) => {
      sink.end(last.length > 0 ? last : undefined);
      await finished;
    },
  };
}

function outputError(error: unknown): unknown {
  if (error instanceof PushError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EPIPE') return new PushError('the reader of the archive went away (broken pipe); the archive is incomplete', { side: 'local', cause: error });
  if (code === 'ENOSPC') return new PushError('the disk is full while writing the archive; free space and export again', { side: 'local', cause: error });
  return new PushError(`writing the archive failed: ${(error as Error)?.message ?? String(error)}`, { side: 'local', cause: error });
}
