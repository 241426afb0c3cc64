import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import type { BlobSource, BlobState, Destination, DestinationState, ManifestOutcome, ProbeRequest, UploadHooks } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { type Descriptor, type Manifest, manifestBlobs, manifestSha256 } from '../store/manifest.js';
import { type ModelName, parseModelName } from '../store/model-name.js';
import type { BlobPlan } from '../transfer/plan.js';
import { type BlobUploadContext, uploadBlob } from './blob-upload.js';
import { findCredentials } from './credentials.js';
import { KnownBlobs } from './known-blobs.js';
import { type RegistryAddress, type RegistryReference, registryLocation, registryReference } from './registry-address.js';
import { OLLAMA_MANIFEST_TYPE, RegistryClient } from './registry-client.js';
import { describeErrors, httpFailure, mediaTypesRefused, parseOciErrors } from './registry-errors.js';
import { trustedCas } from './trusted-cas.js';
import { defaultStateDir, UploadState } from './upload-state.js';

/** Requests in flight while probing (HEADs are tiny; thousands of tensor blobs should not take thousands of round trips in a row). */
const PROBE_PARALLEL = 16;
const VERIFY_PARALLEL = 4;
const MIN_CHUNK = 1024 * 1024;

export interface RegistryDestinationOptions {
  /** From `--registry` (and `--insecure`): parseRegistryAddress. */
  readonly address: RegistryAddress;
  /** `--ca-file`: a PEM CA to trust besides the system's. */
  readonly caFile?: string | undefined;
  /** Credentials ($OLLAMA_PUSH_REGISTRY_USER/_PASSWORD, $DOCKER_CONFIG), $XDG_STATE_HOME; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where upload URLs and blob holders are remembered; default defaultStateDir(env). */
  readonly stateDir?: string;
  /** Aborts every request (Ctrl-C). */
  readonly signal?: AbortSignal | undefined;
  /** A connection silent this long counts as dropped; default 120 s. */
  readonly idleTimeoutMs?: number;
}

/**
 * An OCI registry as a destination: models go to `<host>/<namespace>/<model>:<tag>` (see
 * registryReference), where Ollama pulls them by that name. Blobs are HEADed for the diff, mounted
 * from another repository of the registry when it holds them, otherwise uploaded in chunks that
 * resume from the registry's offset; the manifest goes last, byte for byte.
 */
export class RegistryDestination implements Destination {
  readonly label: string;
  readonly where: string;
  private rtt: number | undefined;
  /** Repositories of the last probe: where blobs are looked for when no model names them. */
  private repositories: string[] = [];
  /** Repositories seen holding each blob (HEAD, upload, mount, manifest PUT) in this run. */
  private readonly holders = new Map<string, Set<string>>();
  /** From earlier runs: a repository that held each blob (a mount source to try). */
  private hints: Map<string, string> | undefined;
  /** Holders learned in this run, to remember for later runs. */
  private readonly learned = new Map<string, string>();
  /** False once the registry answered a mount with an upload: then a blob must be in each repository itself. */
  private canMount = true;

  private constructor(
    readonly address: RegistryAddress,
    private readonly client: RegistryClient,
    private readonly uploads: UploadState,
    private readonly known: KnownBlobs,
  ) {
    this.label = address.host;
    this.where = registryLocation(address);
  }

  /** Reads the CAs and sets up the client; contacts nothing until the first probe. */
  static async open(options: RegistryDestinationOptions): Promise<RegistryDestination> {
    const env = options.env ?? process.env;
    const { address } = options;
    const ca = address.insecure ? undefined : await trustedCas(options.caFile, env);
    const client = new RegistryClient({
      address,
      ca,
      credentials: () => findCredentials(address.host, env),
      signal: options.signal,
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    });
    const stateDir = options.stateDir ?? defaultStateDir(env);
    return new RegistryDestination(address, client, new UploadState(stateDir), new KnownBlobs(stateDir));
  }

  get rttMs(): number | undefined {
    return this.rtt;
  }

  /** Where a model goes, and the name to pull it by (a Model's `image`). */
  reference(name: ModelName): RegistryReference {
    return registryReference(this.address, name);
  }

  pullName(name: ModelName): string {
    return this.reference(name).pullName;
  }

  async probe(request: ProbeRequest): Promise<DestinationState> {
    const started = performance.now();
    await this.client.ping();
    this.rtt ??= performance.now() - started;
    this.hints ??= await this.known.load(this.address.host);
    const references = request.manifests.map((name) => this.reference(name));
    if (references.length > 0) this.repositories = [...new Set(references.map((r) => r.repository))];
    const repositories = this.repositories;
    const limit = pLimit(PROBE_PARALLEL);

    const blobs = new Map<string, BlobState>();
    await Promise.all(
      request.digests.map(async ({ hex }) => {
        const sizes = await Promise.all(repositories.map((repository) => limit(() => this.client.blobSize(repository, hex))));
        for (const [i, size] of sizes.entries()) if (size !== undefined) this.held(hex, repositories[i]!);
        // Held by any repository of the push is as good as present: publishManifest mounts it where it
        // is missing, with no bytes sent (unless this registry turned out unable to mount).
        const found = sizes.filter((size) => size !== undefined);
        const present = found.length > 0 && (this.canMount ? true : found.length === sizes.length) ? found[0] : undefined;
        const lacking = repositories.filter((_, i) => sizes[i] === undefined);
        blobs.set(hex, { publishedSize: present, stagedRanges: present === undefined ? await this.staged(hex, lacking, limit) : [] });
      }),
    );
    const manifestHashes = await Promise.all(
      references.map(async (ref) => {
        const bytes = await limit(() => this.client.manifest(ref.repository, ref.tag));
        return bytes && createHash('sha256').update(bytes).digest('hex');
      }),
    );
    return { exists: true, location: this.where, ollamaHome: false, freeBytes: undefined, canVerify: true, blobs, manifestHashes };
  }

  /** What an earlier run left of the blob's upload: [0, the offset the registry reports). */
  private async staged(hex: string, repositories: readonly string[], limit: ReturnType<typeof pLimit>): Promise<BlobState['stagedRanges']> {
    for (const repository of repositories) {
      const saved = await this.uploads.load(this.address.host, repository, hex);
      if (!saved) continue;
      const session = await limit(() => this.client.uploadStatus(new URL(saved.location, this.client.base), repository));
      if (session && session.offset > 0) return [{ start: 0, end: session.offset }];
      // Gone (expired, or a cut PATCH left it unusable): nothing to resume.
      await this.uploads.remove(this.address.host, repository, hex);
    }
    return [];
  }

  async upload(blobs: readonly BlobPlan[], source: BlobSource, hooks: UploadHooks): Promise<Map<string, unknown>> {
    const controller = new AbortController();
    const context: BlobUploadContext = {
      client: this.client.withSignal(controller.signal),
      state: this.uploads,
      source,
      onEvent: hooks.onEvent,
      stored: hooks.stored,
      chunkSize: Math.max(MIN_CHUNK, hooks.rangeSize),
    };
    const limit = pLimit(Math.max(1, hooks.jobs));
    const failures = new Map<string, unknown>();
    let fatal: { error: unknown } | undefined;
    await Promise.all(
      [...blobs]
        .filter((blob) => blob.status !== 'present')
        .sort((a, b) => b.descriptor.size - a.descriptor.size)
        .map((blob) =>
          limit(async () => {
            if (fatal) return;
            try {
              await this.placeBlob(blob, context);
            } catch (error) {
              if (fatal) return;
              if (error instanceof PushError && error.digest !== undefined) {
                failures.set(blob.descriptor.digest.hex, error);
              } else {
                // Not about this blob (a dropped connection, refused credentials): stop them all.
                fatal = { error };
                controller.abort(error);
              }
            }
          }),
        ),
    );
    await this.remember();
    if (fatal) throw fatal.error;
    return failures;
  }

  /** Makes the blob present in every repository whose models use it: one upload, mounts for the rest. */
  private async placeBlob(blob: BlobPlan, context: BlobUploadContext): Promise<void> {
    const { hex } = blob.descriptor.digest;
    const targets = blob.models.length > 0 ? [...new Set(blob.models.map((model) => this.reference(parseModelName(model)).repository))] : this.repositories;
    const holders = this.holders.get(hex) ?? new Set<string>();
    const needed = targets.filter((repository) => !holders.has(repository));
    if (needed.length === 0) {
      context.onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: blob.descriptor.size });
      context.onEvent?.({ type: 'blob-done', blob: blob.descriptor });
      return;
    }
    let first = needed[0]!;
    for (const repository of needed) {
      if (await this.uploads.load(this.address.host, repository, hex)) {
        first = repository;
        break;
      }
    }
    const hint = this.hints?.get(hex);
    const mountFrom = [...holders][0] ?? (hint !== undefined && hint !== first ? hint : undefined);
    await uploadBlob(blob, first, mountFrom, context);
    this.held(hex, first);
    for (const repository of needed.filter((r) => r !== first)) {
      const opened = await context.client.startUpload(repository, { hex, from: first });
      if (opened !== 'mounted') {
        await context.client.cancelUpload(opened.location, repository);
        await uploadBlob({ ...blob, stagedBytes: 0 }, repository, undefined, { ...context, onEvent: undefined, stored: () => {} });
      }
      this.held(hex, repository);
    }
  }

  async publishManifest(name: ModelName, manifest: Manifest): Promise<ManifestOutcome> {
    const { repository, tag } = this.reference(name);
    const missing = await this.mountInto(repository, manifest);
    if (missing !== undefined) return { missing };
    const answer = await this.client.putManifest(repository, tag, manifest.bytes, manifestMediaType(manifest));
    if (answer.status === 201 || answer.status === 200) {
      const expected = `sha256:${manifestSha256(manifest)}`;
      const got = answer.headers['docker-content-digest'];
      if (typeof got === 'string' && got !== expected) {
        throw new PushError(`registry ${this.address.host} stored the manifest of ${repository}:${tag} as ${got}, not ${expected} (it changed the bytes); Ollama would see another model id`, {
          side: 'remote',
        });
      }
      for (const blob of manifestBlobs(manifest)) this.held(blob.digest.hex, repository);
      return 'published';
    }
    const errors = parseOciErrors(answer.body);
    const unknownBlob = errors.find((e) => e.code === 'MANIFEST_BLOB_UNKNOWN' || e.code === 'BLOB_UNKNOWN');
    if (unknownBlob) {
      const named = /sha256:([0-9a-f]{64})/.exec(typeof unknownBlob.detail === 'string' ? unknownBlob.detail : JSON.stringify(unknownBlob.detail ?? ''));
      const hex = named?.[1] ?? manifestBlobs(manifest).find((b) => !this.holders.get(b.digest.hex)?.has(repository))?.digest.hex ?? manifest.config.digest.hex;
      this.holders.get(hex)?.delete(repository);
      return { missing: hex };
    }
    const codes = new Set(errors.map((e) => e.code));
    if (answer.status === 415 || codes.has('MANIFEST_INVALID') || codes.has('UNSUPPORTED') || codes.has('MANIFEST_UNVERIFIED') || (answer.status === 400 && !codes.has('NAME_INVALID') && !codes.has('TAG_INVALID'))) {
      const types = [...new Set([manifest.config, ...manifest.layers].map((d) => d.mediaType))];
      return Promise.reject(mediaTypesRefused(answer.status, answer.body, this.address.host, repository, types));
    }
    if (codes.has('TAG_INVALID')) {
      throw new PushError(`registry ${this.address.host} refuses tag ${tag} of ${repository} (${describeErrors(answer.status, answer.body)})`, { side: 'usage' });
    }
    throw httpFailure(answer.status, answer.body, {
      host: this.address.host,
      method: 'PUT',
      what: `/v2/${repository}/manifests/${tag}`,
      user: undefined,
      from: undefined,
      repository,
      insecure: this.address.insecure,
    });
  }

  /**
   * Mounts the manifest's blobs that other repositories of the registry hold but this one lacks. The
   * first the registry will not mount is returned: the next probe then counts it as missing here.
   */
  private async mountInto(repository: string, manifest: Manifest): Promise<string | undefined> {
    for (const blob of manifestBlobs(manifest)) {
      const { hex } = blob.digest;
      const holders = this.holders.get(hex);
      const from = holders && !holders.has(repository) ? [...holders][0] : undefined;
      if (from === undefined) continue;
      const opened = await this.client.startUpload(repository, { hex, from });
      if (opened !== 'mounted') {
        await this.client.cancelUpload(opened.location, repository);
        this.canMount = false;
        return hex;
      }
      this.held(hex, repository);
    }
    return undefined;
  }

  /**
   * --verify: GETs each blob and hashes it. A registry cannot have a damaged blob replaced: it keeps
   * the bytes it holds under a digest and links any new upload of that digest to them (CNCF
   * distribution does), so with `drop` a damaged blob is an error to repair on the registry.
   */
  async corruptBlobs(blobs: readonly Descriptor[], drop: boolean): Promise<Set<string>> {
    const limit = pLimit(VERIFY_PARALLEL);
    const corrupt = new Set<string>();
    await Promise.all(
      blobs.map((blob) =>
        limit(async () => {
          const { hex } = blob.digest;
          const repository = [...(this.holders.get(hex) ?? [])][0] ?? this.repositories[0];
          if (repository === undefined) return;
          const hash = createHash('sha256');
          let size = 0;
          for await (const chunk of (await this.client.blob(repository, hex)) as AsyncIterable<Buffer>) {
            hash.update(chunk);
            size += chunk.length;
          }
          if (size !== blob.size || hash.digest('hex') !== hex) corrupt.add(hex);
        }),
      ),
    );
    if (drop && corrupt.size > 0) {
      const first = [...corrupt][0]!;
      throw new PushError(
        `registry ${this.address.host} serves ${corrupt.size === 1 ? 'blob' : `${corrupt.size} blobs, first`} sha256:${first} with bytes that do not match the digest; ` +
          'a push cannot replace what a registry holds under a digest: delete the blob from its storage (and garbage-collect), then push again',
        { side: 'remote', digest: `sha256:${first}` },
      );
    }
    return corrupt;
  }

  async close(): Promise<void> {
    await this.remember().catch(() => undefined);
    this.client.close();
  }

  private held(hex: string, repository: string): void {
    const set = this.holders.get(hex) ?? new Set<string>();
    this.holders.set(hex, set);
    set.add(repository);
    this.learned.set(hex, repository);
  }

  /** Records the holders learned so far for later runs' mounts. */
  private async remember(): Promise<void> {
    if (this.learned.size === 0) return;
    const learned = new Map(this.learned);
    this.learned.clear();
    await this.known.record(this.address.host, learned);
  }
}

/** The manifest's own mediaType (what Ollama wrote), else Ollama's. */
function manifestMediaType(manifest: Manifest): string {
  try {
    const { mediaType } = JSON.parse(manifest.bytes.toString('utf8')) as { mediaType?: unknown };
    return typeof mediaType === 'string' && mediaType ? mediaType : OLLAMA_MANIFEST_TYPE;
  } catch {
    return OLLAMA_MANIFEST_TYPE;
  }
}
