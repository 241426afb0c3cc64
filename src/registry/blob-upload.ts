import type { Readable } from 'node:stream';
import type { BlobSource, ByteRange } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { digestString } from '../store/digest.js';
import type { PushEventListener } from '../transfer/events.js';
import type { BlobPlan } from '../transfer/plan.js';
import { type RegistryClient, UploadLost, type UploadSession } from './registry-client.js';
import type { UploadState } from './upload-state.js';

/** Blobs this small go in one PUT (POST, then PUT with the body); larger ones in PATCH chunks. */
export const MONOLITHIC_MAX = 4 * 1024 * 1024;
/** Times one blob's upload starts over (the registry lost it, or the bytes failed its digest check). */
const RESTARTS = 2;

export interface BlobUploadContext {
  readonly client: RegistryClient;
  readonly state: UploadState;
  readonly source: BlobSource;
  readonly onEvent?: PushEventListener | undefined;
  /** The registry confirmed these bytes (a chunk, or a whole small blob). */
  readonly stored: (hex: string, range: ByteRange) => void;
  /** Bytes per PATCH. */
  readonly chunkSize: number;
}

/**
 * Makes one blob present in `repository`: mounted from `mountFrom` when the registry can, else resumed
 * from the offset the registry reports for the upload an earlier run left (its URL in the state file),
 * else uploaded anew; PATCH chunks one after the other (an upload is sequential), each confirmed by the
 * registry's Range and recorded, then the PUT ?digest= that has the registry check the sha256.
 */
export async function uploadBlob(blob: BlobPlan, repository: string, mountFrom: string | undefined, context: BlobUploadContext): Promise<'mounted' | 'uploaded'> {
  const { client, state, onEvent } = context;
  const { digest, size } = blob.descriptor;
  const { hex } = digest;
  let session = await resumable(blob, repository, context);
  let started = false;
  /** Bytes of this blob the progress counts as there: the resumed prefix and the chunks confirmed since. */
  let counted = 0;
  const sending: BlobUploadContext = {
    ...context,
    stored: (hex, range) => {
      counted += range.end - range.start;
      context.stored(hex, range);
    },
  };
  for (let restarts = 0; ; restarts++) {
    if (!session) {
      const opened = await client.startUpload(repository, mountFrom ? { hex, from: mountFrom } : undefined);
      if (opened === 'mounted') {
        if (!started) onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: size });
        onEvent?.({ type: 'blob-done', blob: blob.descriptor });
        return 'mounted';
      }
      session = opened;
    }
    if (!started) {
      onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: session.offset });
      counted = session.offset;
    }
    started = true;
    try {
      const outcome = await send(blob, repository, session, sending);
      if (outcome === 'stored') break;
      const damaged = await context.source.damaged(blob.descriptor);
      if (damaged) throw damaged;
      if (restarts >= RESTARTS) {
        throw new PushError(`registry ${client.host} found blob ${digestString(digest)} corrupted ${restarts + 1} times on the way; check the network`, {
          side: 'remote',
          digest: digestString(digest),
        });
      }
      onEvent?.({ type: 'warning', message: `registry ${client.host} found blob ${digestString(digest)} corrupted on the way; sending it again` });
    } catch (error) {
      if (!(error instanceof UploadLost) || restarts >= RESTARTS) {
        if (error instanceof UploadLost) {
          throw new PushError(`registry ${client.host} lost the upload of blob ${digestString(digest)} again (${error.message})`, { side: 'remote', digest: digestString(digest) });
        }
        throw error;
      }
      onEvent?.({ type: 'warning', message: `registry ${client.host} dropped the upload of blob ${digestString(digest)} (${error.message}); starting it again` });
    }
    // Starting over: what was counted of this blob goes back.
    onEvent?.({ type: 'bytes', hex, bytes: -counted });
    counted = 0;
    await state.remove(client.host, repository, hex);
    session = undefined;
    mountFrom = undefined;
  }
  await state.remove(client.host, repository, hex);
  onEvent?.({ type: 'blob-done', blob: blob.descriptor });
  return 'uploaded';
}

/**
 * The upload an earlier run left, at the offset the registry reports now, when the plan resumes it
 * (it counted the staged prefix); otherwise that upload is cancelled and forgotten.
 */
async function resumable(blob: BlobPlan, repository: string, context: BlobUploadContext): Promise<UploadSession | undefined> {
  const { client, state } = context;
  const { hex } = blob.descriptor.digest;
  const saved = await state.load(client.host, repository, hex);
  if (!saved) return undefined;
  const location = new URL(saved.location, client.base);
  const session = blob.stagedBytes > 0 ? await client.uploadStatus(location, repository) : undefined;
  if (session && session.offset > 0 && session.offset <= blob.descriptor.size) return session;
  if (!session) await client.cancelUpload(location, repository);
  await state.remove(client.host, repository, hex);
  return undefined;
}

/** Sends the rest of the blob from the session's offset and closes the upload. */
async function send(blob: BlobPlan, repository: string, initial: UploadSession, context: BlobUploadContext): Promise<'stored' | 'mismatch'> {
  const { client, state } = context;
  const { digest, size } = blob.descriptor;
  const { hex } = digest;
  if (initial.offset === 0 && size <= MONOLITHIC_MAX) {
    const body = countedRead(blob, { start: 0, end: size }, context);
    const outcome = await client.finishUpload(initial, repository, hex, { length: size, data: body.open }).catch(body.fail);
    if (outcome === 'stored') {
      body.confirm();
      context.stored(hex, { start: 0, end: size });
    } else {
      body.discard();
    }
    return outcome;
  }
  let session = initial;
  const remember = (s: UploadSession) =>
    state.save({ registry: client.host, repository, hex, location: relativeLocation(s.location, client.base), offset: s.offset });
  await remember(session);
  while (session.offset < size) {
    const range = { start: session.offset, end: Math.min(size, session.offset + context.chunkSize) };
    const body = countedRead(blob, range, context);
    session = await client.patch(session, repository, range.end - range.start, body.open).catch(body.fail);
    body.confirm();
    await remember(session);
    context.stored(hex, range);
  }
  return client.finishUpload(session, repository, hex);
}

/**
 * A range's bytes for one request, reported as they go out. A request that auth sends twice reads them
 * twice; bytes of a failed request are taken back from the progress.
 */
function countedRead(blob: BlobPlan, range: ByteRange, context: BlobUploadContext) {
  const { hex } = blob.descriptor.digest;
  let pending = 0;
  const takeBack = () => {
    if (pending !== 0) context.onEvent?.({ type: 'bytes', hex, bytes: -pending });
    pending = 0;
  };
  return {
    open: (): Readable => {
      takeBack();
      return context.source.read(blob.descriptor, range, (bytes) => {
        pending += bytes;
        context.onEvent?.({ type: 'bytes', hex, bytes });
      });
    },
    confirm: () => {
      pending = 0;
    },
    discard: takeBack,
    fail: (error: unknown): never => {
      takeBack();
      throw error;
    },
  };
}

/** The upload URL as saved: relative when it is on the registry's own origin (a proxy or port may change). */
function relativeLocation(location: URL, base: URL): string {
  return location.origin === base.origin ? `${location.pathname}${location.search}` : location.href;
}
