import type { Readable } from 'node:stream';
import type { ByteRange } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { type Digest, digestString } from '../store/digest.js';
import type { Manifest } from '../store/manifest.js';
import { manifestBlobs } from '../store/manifest.js';
import { displayName, manifestSegments, type ModelName } from '../store/model-name.js';
import { ConnectionLostError, type RunOptions, type RunResult, type Transport } from '../transport/transport.js';
import { DEFAULT_STALL_TIMEOUT_MS, StallWatch } from '../transport/stall-watch.js';
import { RangeWriter } from './range-writer.js';
import { type ProgramName, program } from './programs.js';
import { ShellPool } from './shell-pool.js';
import { GO_LINE, WARM_SHELL } from './warm-shell.js';
import { shellCommand } from '../transport/shell-quote.js';

export type Hasher = 'openssl' | 'sha256sum' | 'shasum';

export interface RemoteBlobState {
  /** Size of the published file (or of the verified one waiting in the staging), or undefined when there is none. */
  readonly publishedSize: number | undefined;
  /** Verified in the staging, not in blobs/ yet: the next manifest published that references it moves it there. */
  readonly pending?: boolean;
  /** Ranges already staged by earlier runs (the destination's word, not ours). */
  readonly stagedRanges: readonly ByteRange[];
  /** The run holding the blob's lock, if any: `<hostname> <pid> <run id>`. */
  readonly lockOwner?: string;
}

export interface RemoteState {
  readonly exists: boolean;
  /** The models dir actually used: `<path>/models` when the path is an Ollama home. */
  readonly modelsDir: string;
  readonly ollamaHome: boolean;
  /** The remote path resolved physically (cd -P) by the probe. */
  readonly physicalPath?: string | undefined;
  readonly hasher: Hasher | undefined;
  readonly hasXxhsum: boolean;
  readonly freeBytes: number | undefined;
  readonly blobs: ReadonlyMap<string, RemoteBlobState>;
  /** sha256 of each probed manifest file, in the order given; undefined where there is none. */
  readonly manifestHashes: readonly (string | undefined)[];
}

export interface LockIdentity {
  /** Who is writing: `<hostname> <pid> <run id>`. */
  readonly owner: string;
  /** An owner found dead (same host, process gone), whose lock may be taken at once. */
  readonly deadOwner?: string;
}

/** `stored`: the blob is complete on the destination (verified in the staging, or published). */
export type LockOutcome = 'acquired' | 'stored' | { busy: string };
export type WriteOutcome = 'written' | 'stored' | 'short' | { busy: string };
export type CommitOutcome = 'stored' | { mismatch: string } | { busy: string };
export type ManifestOutcome = 'published' | 'unchanged' | { missing: string };

export interface RemoteStoreOptions {
  /** The path the user gave: a models dir, or an Ollama home holding `models/`. */
  readonly path: string;
  /** Run every command through `sudo -n`. */
  readonly sudo?: boolean;
  /** Minutes without a heartbeat after which another run's lock is taken over. */
  readonly staleLockMinutes?: number;
  /** Give published files and the dirs made for them to USER[:GROUP]. */
  readonly chown?: string;
  /**
   * How long a command may owe a sign of life (its output, its stdin taken, its exit) before it is
   * dropped as stuck with a retryable StallError (DEFAULT_STALL_TIMEOUT_MS); 0: never.
   */
  readonly stallTimeoutMs?: number;
}

/** The destination Ollama store, spoken to in POSIX sh through any transport. */
export class RemoteStore {
  private modelsDir: string;
  /** Whether the path is an Ollama home holding models/ (from the probe). */
  private layout: 'home' | 'models' = 'models';
  /** The remote path as the probe found it, physically: every later program checks it still leads there. */
  private physical: string | undefined;
  private hasher: Hasher | undefined;
  private hasXxhsum = false;
  /** The stall watchdogs of the commands running now. */
  private readonly watches = new Set<StallWatch>();
  /** Whether a program has run to its end here (see ConnectionLostError.afterReaching). */
  private reached = false;
  /** The shells every program runs in (see ShellPool). */
  private readonly shells: ShellPool;

  constructor(
    readonly transport: Transport,
    private readonly options: RemoteStoreOptions,
  ) {
    this.modelsDir = options.path;
    // The remote path is an argument the shell does not use: `ps` there shows which store it works on.
    const words = [...(options.sudo ? ['sudo', '-n'] : []), 'sh', '-c', WARM_SHELL, 'ollama-push', options.path];
    this.shells = new ShellPool(transport, shellCommand(words));
  }

  get where(): string {
    return `${this.modelsDir} on ${this.transport.label}`;
  }

  /** One round trip: the layout, the tools, free space, the given manifests and the state of every given blob. */
  async probe(digests: readonly Digest[], create: boolean, manifests: readonly ModelName[] = []): Promise<RemoteState> {
    const list = [...manifests.map((name) => `manifest ${manifestSegments(name).join('/')}`), '.', ...digests.map((d) => d.hex)];
    const { stdout } = await this.exec('probe', [this.options.path, create ? '1' : '0'], { stdin: lines(list) });
    const state = parseProbe(stdout.toString('utf8'), this.options.path, new Set(digests.map((d) => d.hex)));
    this.modelsDir = state.modelsDir;
    this.layout = state.ollamaHome ? 'home' : 'models';
    this.physical = state.physicalPath;
    this.hasher = state.hasher;
    this.hasXxhsum = state.hasXxhsum;
    return state;
  }

  async takeLock(digest: Digest, size: number, lock: LockIdentity): Promise<LockOutcome> {
    const { stdout } = await this.exec('take-lock', [...this.store(), digest.hex, String(size), ...this.lockArgs(lock)], { digest });
    const out = stdout.toString('utf8').trim();
    if (out === 'acquired' || out === 'stored') return out;
    if (out.startsWith('busy')) return { busy: out.slice(5) };
    throw this.protocolError('lock', out, digest);
  }

  /** A long-lived writer for ranges (see RANGE_WRITER): one per channel, reused for every range it is given. */
  openRangeWriter(owner: string): RangeWriter {
    const args = [...this.store(), owner, String(this.options.staleLockMinutes ?? 2)];
    const watch = this.stallWatch('writing a range');
    return new RangeWriter((stdin, onStdout) => this.exec('range-writer', args, { stdin, onStdout, watch }), watch);
  }

  /**
   * Sends a tar of whole blobs (see small-blobs.sh), in turn when its length `tarBytes` is given;
   * returns the sha256 the destination read of each blob that failed verification there, by hex.
   */
  async sendSmallBlobs(digests: readonly Digest[], tar: Readable, tarBytes: number | undefined): Promise<Map<string, string>> {
    const args = [...this.store(), this.hasher ?? 'none', this.options.chown ?? ''];
    const { stdout } = await this.exec('small-blobs', args, { stdin: tar, stdinBytes: tarBytes });
    const mismatches = new Map<string, string>();
    const answered = new Set<string>();
    for (const line of stdout.toString('utf8').split('\n')) {
      const [hex, outcome, sum] = line.trim().split(' ');
      if (!hex) continue;
      answered.add(hex);
      if (outcome === 'mismatch') mismatches.set(hex, sum ?? '');
    }
    const missing = digests.find((d) => !answered.has(d.hex));
    if (missing) throw this.protocolError('small blobs', stdout.toString('utf8'), missing);
    return mismatches;
  }

  /**
   * Hashes a blob on the destination while its ranges are written (see HASH_FOLLOW); `ranges` must cover
   * the blob in order. Resolves with 'stored' when the blob was right and is stored (no commit needed),
   * else with the sha256 of what it read ('' when none); abort it when the blob fails (its shell ends). It
   * runs in turn, in a shell that then takes the next program (the manifest), and waits for one to come
   * back rather than start one. It waits for the writes silently; once `wanted` resolves (they are done),
   * the answer is owed (StallWatch).
   */
  async followHash(digest: Digest, size: number, lock: LockIdentity, ranges: readonly ByteRange[], signal: AbortSignal, wanted?: Promise<void>): Promise<string> {
    const watch = this.stallWatch(`hashing blob ${digestString(digest)}`);
    void wanted?.then(() => watch?.waitFor());
    const args = [...this.store(), digest.hex, String(size), ...this.lockArgs(lock), this.hasher ?? 'none', this.options.chown ?? ''];
    const stdin = lines([...ranges.map((r) => `${r.start}-${r.end}`), '.']);
    return this.exec('hash-follow', args, { stdin, signal, watch, patient: true }).then(
      ({ stdout }) => stdout.toString('utf8').trim(),
      () => '',
    );
  }

  /**
   * Verifies the staged blob (unless `followed`, the sha256 followHash gave, is already its digest); it
   * then waits verified in the staging until a manifest that references it is published.
   */
  async commitBlob(digest: Digest, size: number, lock: LockIdentity, followed = ''): Promise<CommitOutcome> {
    const { stdout } = await this.exec(
      'commit-blob',
      [...this.store(), digest.hex, String(size), ...this.lockArgs(lock), this.hasher ?? 'none', this.options.chown ?? '', followed],
      { digest },
    );
    const out = stdout.toString('utf8').trim();
    if (out === 'stored') return out;
    if (out.startsWith('mismatch ')) return { mismatch: out.slice(9) };
    if (out.startsWith('busy')) return { busy: out.slice(5) };
    throw this.protocolError('commit', out, digest);
  }

  /**
   * Hashes staged ranges on the destination: with xxhsum (fast) where it has one, else sha256. Returns
   * the algorithm used and the hashes, keyed `hex:start:end`.
   */
  async hashStagedRanges(ranges: readonly { digest: Digest; range: ByteRange }[]): Promise<{ algorithm: 'xxh64' | 'sha256'; hashes: Map<string, string> }> {
    const tool = this.hasXxhsum ? 'xxhsum' : (this.hasher ?? 'none');
    const keys = ranges.map(({ digest, range }) => `${digest.hex}:${range.start}:${range.end}`);
    const { stdout } = await this.exec('hash-staged', [...this.store(), tool], { stdin: lines(keys) });
    const hashes = new Map<string, string>();
    for (const line of stdout.toString('utf8').split('\n')) {
      const [key, hash] = line.trim().split(' ');
      if (key && hash && /^[0-9a-f]+$/.test(hash)) hashes.set(key, hash);
    }
    return { algorithm: tool === 'xxhsum' ? 'xxh64' : 'sha256', hashes };
  }

  /** Writes the manifest bytes unchanged, last, and only while all its blobs are in place. */
  async publishManifest(name: ModelName, manifest: Manifest): Promise<ManifestOutcome> {
    const list = lines([...manifestBlobs(manifest).map((d) => `${d.digest.hex} ${d.size}`), '.']);
    const args = [...this.store(), this.options.chown ?? '', ...manifestSegments(name)];
    const waiting = `publishing the manifest of ${displayName(name)}`;
    const { stdout } = await this.exec('publish-manifest', args, { stdin: Buffer.concat([list, manifest.bytes]), waiting });
    const out = stdout.toString('utf8').trim();
    if (out === 'published' || out === 'unchanged') return out;
    if (out.startsWith('missing ')) return { missing: out.slice(8) };
    throw this.protocolError('publish manifest', out);
  }

  /**
   * The sha256 of each published blob, read on the destination (for --verify); a blob that is not there
   * has none. With `drop`, a blob whose sha256 is not its name is removed there, to be sent again.
   */
  async hashPublishedBlobs(digests: readonly Digest[], drop: boolean): Promise<Map<string, string | undefined>> {
    const args = [...this.store(), this.hasher ?? 'none', drop ? '1' : '0'];
    const { stdout } = await this.exec('hash-published', args, { stdin: lines(digests.map((d) => d.hex)) });
    const hashes = new Map<string, string | undefined>();
    for (const line of stdout.toString('utf8').split('\n')) {
      const [hex, sum] = line.trim().split(' ');
      if (hex && sum) hashes.set(hex, /^[0-9a-f]{64}$/.test(sum) ? sum : undefined);
    }
    const unanswered = digests.find((d) => !hashes.has(d.hex));
    if (unanswered) throw this.protocolError('verify', stdout.toString('utf8'), unanswered);
    return hashes;
  }

  /** The first arguments of every program after the probe: the path as given, and its layout with the physical path. */
  private store(): [string, string] {
    return [this.options.path, this.physical === undefined ? this.layout : `${this.layout}:${this.physical}`];
  }

  private lockArgs(lock: LockIdentity): string[] {
    return [lock.owner, String(this.options.staleLockMinutes ?? 2), lock.deadOwner ?? ''];
  }

  /**
   * A stall watchdog for one command (see RemoteStoreOptions.stallTimeoutMs); none when it is off. When
   * one command stalls, every other one running is dropped with it: the destination is stuck, and the
   * attempt ends at once to be retried, instead of each command waiting out its own timeout.
   */
  private stallWatch(what: string): StallWatch | undefined {
    const ms = this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    if (ms <= 0) return undefined;
    return new StallWatch(this.transport.label, ms, what, (error) => {
      for (const watch of this.watches) watch.abort(error);
    });
  }

  /** Starts the first shell now, for the first program (the probe) to find its login shell done (see ShellPool.startAhead). */
  startShell(): Promise<void> {
    return this.shells.startAhead();
  }

  /** While on, a shell is kept ready for the next program (see ShellPool.keepShellWarm). */
  keepShellWarm(on: boolean): void {
    this.shells.keepShellWarm(on);
  }

  /** Lets the idle shells go (at the end of a run), and waits for them to exit. */
  releaseWarmShell(): Promise<void> {
    return this.shells.release();
  }

  /**
   * Runs one program with its arguments (under sudo -n with --sudo) in one of the shells; a failure
   * becomes a PushError about `digest`. Under a stall watchdog: `watch` when the caller has one, else
   * one that waits for `waiting`. A program whose stdin has a known length (a buffer, or `stdinBytes`)
   * runs in turn, and its shell takes the next program; one fed a stream of no known length (a writer,
   * a hash follower) is its shell's last.
   */
  private async exec(
    name: ProgramName,
    args: string[],
    options: RunOptions & { digest?: Digest; waiting?: string; watch?: StallWatch | undefined; stdinBytes?: number; patient?: boolean } = {},
  ): Promise<RunResult> {
    const { digest, waiting, watch: given, stdinBytes, patient, ...rest } = options;
    const bytes = rest.stdin === undefined ? 0 : Buffer.isBuffer(rest.stdin) ? rest.stdin.length : stdinBytes;
    const watch = given ?? this.stallWatch(waiting ?? waitingFor(name, digest));
    const run = { ...(watch ? watch.watching(rest) : rest), label: `${name} ${shellCommand(args)}` };
    const text = `set -- ${shellCommand(args)}\n${program(name)}`;
    // Only an argument's lines can start a line of the text that is not our program's.
    if (args.some((arg) => arg.split('\n').some((line) => line.startsWith(GO_LINE)))) {
      throw new PushError(`an argument holds a line ${GO_LINE}, which ollama-push's destination shell reads as the end of a program; rename it`, { side: 'local' });
    }
    if (watch) this.watches.add(watch);
    const inTurn = bytes !== undefined;
    const result = await this.shells
      .take(inTurn, patient)
      .then(async (shell) => {
        if (!inTurn) return shell.run(text, run);
        try {
          run.signal?.throwIfAborted();
          return await shell.runInTurn(text, run, bytes);
        } finally {
          this.shells.giveBack(shell);
        }
      })
      .catch((error: unknown) => {
        if (!(error instanceof ConnectionLostError)) throw error;
        const lost = this.reached && !error.reached ? error.afterReaching() : error;
        throw digest ? lost.about(digestString(digest)) : lost;
      })
      .finally(() => {
        watch?.stop();
        if (watch) this.watches.delete(watch);
      });
    this.reached = true;
    if (result.code !== 0) throw this.commandError(result, digest);
    return result;
  }

  private commandError(result: RunResult, digest?: Digest): PushError {
    const stderr = result.stderr.toString('utf8').trim();
    const last = stderr.split('\n').filter(Boolean).pop() ?? '';
    const about = digest ? { digest: digestString(digest) } : {};
    if (result.code === 3 && last.startsWith('unsafe destination: ')) {
      return new PushError(`refusing to write to ${this.transport.label}: ${last.slice('unsafe destination: '.length)}`, { side: 'remote', ...about });
    }
    if (/read-only file system/i.test(stderr)) {
      return new PushError(`the destination's filesystem is read-only (${this.where}): ${last}; remount it read-write or choose another --remote-path`, {
        side: 'remote',
        ...about,
      });
    }
    if (/no space left/i.test(stderr)) {
      return new PushError(`destination disk is full (${this.where}): ${last}; free space and run again to resume`, {
        side: 'remote',
        ...about,
      });
    }
    if (/permission denied|operation not permitted/i.test(stderr)) {
      return new PushError(`permission denied on ${this.where}: ${last}; use --sudo, or a user that owns the store`, {
        side: 'remote',
        ...about,
      });
    }
    if (/sudo:.*password/i.test(stderr)) {
      return new PushError(`sudo on ${this.transport.label} wants a password; allow NOPASSWD for this user, or run without --sudo`, {
        side: 'remote',
      });
    }
    if (result.code === 127) {
      return new PushError(`${this.transport.label} cannot run a POSIX sh command (${last || 'exit 127'}); the destination needs sh and coreutils`, {
        side: 'remote',
      });
    }
    return new PushError(`command failed on ${this.where} (exit ${result.code}): ${last || 'no message'}`, { side: 'remote', ...about });
  }

  private protocolError(what: string, out: string, digest?: Digest): PushError {
    return new PushError(`unexpected answer from ${this.transport.label} to ${what}: ${JSON.stringify(out.slice(0, 200))}`, {
      side: 'remote',
      retryable: true,
      ...(digest ? { digest: digestString(digest) } : {}),
    });
  }

  /**
   * Day 2: what the store holds (see LIST_STORE), read only: nothing is created. Sets the layout and
   * the models dir as the probe does.
   */
  async listContents(graceMinutes: number): Promise<string> {
    const args = [this.options.path, String(graceMinutes), String(this.options.staleLockMinutes ?? 2)];
    const { stdout } = await this.exec('list-store', args);
    const text = stdout.toString('utf8');
    const layout = /^layout (home|models)$/m.exec(text)?.[1];
    if (layout === 'home' || layout === 'models') {
      this.layout = layout;
      this.modelsDir = layout === 'home' ? `${this.options.path.replace(/\/+$/, '')}/models` : this.options.path;
    }
    return text;
  }

  /** Day 2: removes manifests, unreferenced blobs and abandoned staging (see PRUNE); `input` is its stdin. */
  async prune(owner: string, dryRun: boolean, input: Buffer): Promise<string> {
    const args = [this.options.path, owner, String(this.options.staleLockMinutes ?? 2), dryRun ? '1' : '0'];
    const { stdout } = await this.exec('prune', args, { stdin: input });
    return stdout.toString('utf8');
  }
}

/** What a program's run waits for, for the stall watchdog's message ("... while taking the lock of blob sha256:..."). */
function waitingFor(name: ProgramName, digest: Digest | undefined): string {
  const blob = digest ? `blob ${digestString(digest)}` : 'a blob';
  switch (name) {
    case 'probe':
      return 'reading the state of the store';
    case 'take-lock':
      return `taking the lock of ${blob}`;
    case 'commit-blob':
      return `verifying and publishing ${blob}`;
    case 'small-blobs':
      return 'writing small blobs';
    case 'hash-staged':
      return 'checking the ranges staged before';
    case 'hash-published':
      return 'hashing the published blobs (--verify)';
    default:
      return `running ${name}`;
  }
}

/** Reads the probe's answer; only the digests asked about are taken (a path is built from them later). */
export function parseProbe(text: string, givenPath: string, asked: ReadonlySet<string>): RemoteState {
  let layout = 'missing';
  let physicalPath: string | undefined;
  let hasher: Hasher | undefined;
  let hasXxhsum = false;
  let freeBytes: number | undefined;
  const blobs = new Map<string, RemoteBlobState>();
  const manifestHashes: (string | undefined)[] = [];
  for (const line of text.split('\n')) {
    const [kind, ...rest] = line.trim().split(/\s+/);
    if (kind === 'layout') layout = rest[0] ?? 'missing';
    else if (kind === 'physical' && /^([0-9a-f]{2})+$/.test(rest[0] ?? '')) physicalPath = Buffer.from(rest[0]!, 'hex').toString('utf8');
    else if (kind === 'tool' && rest[0] === 'xxhsum') hasXxhsum = true;
    else if (kind === 'tool') hasher ??= rest[0] as Hasher;
    else if (kind === 'free' && /^\d+$/.test(rest[0] ?? '')) freeBytes = Number(rest[0]) * 1024;
    else if (kind === 'manifest') manifestHashes[Number(rest[0])] = /^[0-9a-f]{64}$/.test(rest[1] ?? '') ? rest[1] : undefined;
    else if (!asked.has(rest[0] ?? '') && (kind === 'lock' || kind === 'blob' || kind === 'stored')) continue;
    else if (kind === 'stored' && /^\d+$/.test(rest[1] ?? '')) blobs.set(rest[0]!, { publishedSize: Number(rest[1]), stagedRanges: [], pending: true });
    else if (kind === 'lock' && rest[0] && blobs.has(rest[0])) blobs.set(rest[0], { ...blobs.get(rest[0])!, lockOwner: rest.slice(1).join(' ') });
    else if (kind === 'blob' && rest[0]) {
      const size = rest[1];
      blobs.set(rest[0], {
        publishedSize: size && /^\d+$/.test(size) ? Number(size) : undefined,
        stagedRanges: rest.slice(2).flatMap(parseRange),
      });
    }
  }
  const ollamaHome = layout === 'home';
  return {
    exists: layout !== 'missing',
    physicalPath,
    modelsDir: ollamaHome ? `${givenPath.replace(/\/+$/, '')}/models` : givenPath,
    ollamaHome,
    hasher,
    hasXxhsum,
    freeBytes,
    blobs,
    manifestHashes,
  };
}

function parseRange(text: string): ByteRange[] {
  const match = /^(\d+)-(\d+)$/.exec(text);
  return match ? [{ start: Number(match[1]), end: Number(match[2]) }] : [];
}

function lines(items: readonly string[]): Buffer {
  return Buffer.from(items.map((item) => `${item}\n`).join(''));
}
