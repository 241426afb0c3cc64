import { EXIT, PushError } from '../errors.js';
import { blobFileName, type Digest, parseDigest } from '../store/digest.js';
import { manifestSegments, type ModelName, parseModelName } from '../store/model-name.js';

/**
 * The archive layout shared by `export` and `import`: the models dir's own paths, so that `tar -x` into
 * a models dir gives a store. Only regular files, mode 0644; blobs first, then manifests.
 */
export const ENTRY_MODE = 0o644;

/** Tar pads every entry to this, and ends the archive with two zero blocks of it. */
export const TAR_BLOCK = 512;

export const blobEntryName = (digest: Digest): string => `blobs/${blobFileName(digest)}`;
export const manifestEntryName = (name: ModelName): string => ['manifests', ...manifestSegments(name)].join('/');

export interface FileEntryHeader {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
  readonly type: 'file';
}

/**
 * The tar header of one entry. tar-stream writes the size field in octal up to 8 GiB - 1 and, beyond,
 * in GNU base-256 (first byte 0x80, then 11 bytes big-endian), which GNU tar, bsdtar, busybox, Go and
 * Python all read; names over 100 bytes go into the ustar prefix or a pax `path` record.
 */
export function fileEntryHeader(name: string, size: number, mtime: Date): FileEntryHeader {
  return { name, size, mode: ENTRY_MODE, mtime, type: 'file' };
}

export type ArchiveEntry =
  | { readonly kind: 'blob'; readonly path: string; readonly digest: Digest }
  | { readonly kind: 'manifest'; readonly path: string; readonly name: ModelName }
  | { readonly kind: 'directory'; readonly path: string };

const BLOB_FILE = /^sha256-([0-9a-f]{64})$/;

/**
 * What one tar entry is, from its name and type, validated before anything is built from it: a blob
 * (`blobs/sha256-<hex>`), a manifest (`manifests/<host>/<namespace>/<model>/<tag>`, a name Ollama
 * accepts) or a directory on the way to them (ignored). Anything else is refused: links, devices,
 * absolute paths, `..`, and paths outside blobs/ and manifests/. A leading `./` (as `tar -C dir .`
 * writes) is allowed.
 */
export function classifyEntry(rawName: string, type: string | null | undefined): ArchiveEntry {
  const refuse = (why: string) => refusedEntry(rawName, why);
  if (rawName.startsWith('/')) throw refuse('an absolute path');
  let path = rawName;
  while (path.startsWith('./')) path = path.slice(2);
  const directory = type === 'directory';
  if (directory) path = path.replace(/\/+$/, '');
  const parts = path.split('/');
  if (parts.includes('..')) throw refuse('a path through ..');
  if (type === 'symlink' || type === 'link') throw refuse('a link (an archive for import holds only files)');
  if (type !== 'file' && type !== 'contiguous-file' && !directory) throw refuse(`a ${type ?? 'non-file'} entry (an archive for import holds only files)`);
  if (directory && (path === '' || path === '.')) return { kind: 'directory', path: '.' };
  if (parts.some((p) => p === '' || p === '.')) throw refuse('an empty or "." path segment');
  const [top] = parts;
  if (top !== 'blobs' && top !== 'manifests') throw refuse('outside manifests/ and blobs/');

  if (directory) {
    if (top === 'blobs' ? parts.length > 1 : parts.length > 4) throw refuse('a directory where a file belongs');
    return { kind: 'directory', path };
  }
  if (top === 'blobs') {
    const hex = parts.length === 2 ? BLOB_FILE.exec(parts[1]!)?.[1] : undefined;
    if (!hex) throw refuse('not a blob file name (blobs/sha256-<64 lowercase hex digits>)');
    return { kind: 'blob', path, digest: parseDigest(`sha256:${hex}`, path) };
  }
  if (parts.length !== 5) throw refuse('not at manifests/<host>/<namespace>/<model>/<tag>');
  const [, host, namespace, model, tag] = parts as [string, string, string, string, string];
  let name: ModelName;
  try {
    name = parseModelName(`${host}/${namespace}/${model}:${tag}`);
  } catch {
    throw refuse('not a model name Ollama accepts');
  }
  if (manifestSegments(name).join('/') !== parts.slice(1).join('/')) throw refuse('not a model name Ollama accepts');
  return { kind: 'manifest', path, name };
}

export function refusedEntry(rawName: string, why: string): PushError {
  return new PushError(`refusing the archive: entry ${JSON.stringify(rawName)} is ${why}; nothing was published`, {
    side: 'local',
    exitCode: EXIT.usage,
  });
}

/** `size` rounded up to whole tar blocks. */
export function paddedSize(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}
