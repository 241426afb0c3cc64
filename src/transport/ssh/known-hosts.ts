import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PushError } from '../../errors.js';

export type HostKeyVerdict =
  | { status: 'match' }
  | { status: 'unknown' }
  /** keyType: the type of the key on file, which may differ from the server's. */
  | { status: 'changed'; file: string; line: number; keyType: string }
  | { status: 'revoked'; file: string; line: number };

export interface KnownHostsFile {
  path: string;
  text: string;
}

interface KnownHostsEntry {
  file: string;
  /** 1-based, as editors and OpenSSH's messages count. */
  line: number;
  revoked: boolean;
  hosts: string;
  keyType: string;
  key: Buffer;
}

const HASH_MAGIC = '|1|';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Checks a server's host key against known_hosts files as OpenSSH does. hostNames are the names to
 * look the host up under (e.g. the HostName and its address); each is turned into `[name]:port`
 * when port is not 22.
 *
 * Stricter than OpenSSH in one way: a key of another type than those on file is a changed key, not a
 * new one. The client prefers the algorithms of the keys on file, so a server that shows another type
 * offers none of them: a reinstalled host, or another one that lacks the key on file.
 */
export function checkHostKey(files: KnownHostsFile[], hostNames: string[], port: number, keyBlob: Buffer): HostKeyVerdict {
  const names = lookupNames(hostNames, port);
  let matched = false;
  let changed: { file: string; line: number; keyType: string } | undefined;
  for (const entry of knownHostsEntries(files)) {
    if (entry.revoked) {
      if (entry.key.equals(keyBlob)) return { status: 'revoked', file: entry.file, line: entry.line };
    } else if (hostFieldMatches(entry.hosts, names)) {
      if (entry.key.equals(keyBlob)) matched = true;
      else changed ??= { file: entry.file, line: entry.line, keyType: entry.keyType };
    }
  }
  if (matched) return { status: 'match' };
  if (changed) return { status: 'changed', ...changed };
  return { status: 'unknown' };
}

/** Key types already recorded for this host (to prefer those host-key algorithms), in file order, deduplicated. */
export function knownKeyTypes(files: KnownHostsFile[], hostNames: string[], port: number): string[] {
  const names = lookupNames(hostNames, port);
  const types = new Set<string>();
  for (const entry of knownHostsEntries(files)) {
    if (!entry.revoked && hostFieldMatches(entry.hosts, names)) types.add(entry.keyType);
  }
  return [...types];
}

/** A line (without the newline) to append for accept-new, hashed like OpenSSH's `HashKnownHosts yes`. */
export function knownHostsLine(hostName: string, port: number, keyType: string, keyBlob: Buffer): string {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(lookupName(hostName, port)).digest();
  const hosts = `${HASH_MAGIC}${salt.toString('base64')}|${hash.toString('base64')}`;
  return `${hosts} ${keyTypeOf(keyBlob, keyType)} ${keyBlob.toString('base64')}`;
}

/** 'SHA256:<base64 without padding>', as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Reads the files that exist, in order; missing ones are skipped, as OpenSSH skips them. */
export async function readKnownHostsFiles(paths: string[]): Promise<KnownHostsFile[]> {
  const files: KnownHostsFile[] = [];
  for (const path of paths) {
    try {
      files.push({ path, text: await readFile(path, 'utf8') });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new PushError(`cannot read the known hosts file ${path} (${code ?? String(error)}); check its permissions`, {
        side: 'transport',
        cause: error,
      });
    }
  }
  return files;
}

function* knownHostsEntries(files: KnownHostsFile[]): Generator<KnownHostsEntry> {
  for (const file of files) {
    const lines = file.text.split('\n');
    for (let index = 0; index < lines.length; index++) {
      const entry = parseLine(lines[index]!);
      if (entry) yield { file: file.path, line: index + 1, ...entry };
    }
  }
}

/** Comments, blank lines, @cert-authority lines (ssh2 cannot verify host certificates) and malformed lines give undefined. */
function parseLine(text: string): Omit<KnownHostsEntry, 'file' | 'line'> | undefined {
  const fields = text.trim().split(/\s+/);
  if (fields[0] === '' || fields[0]!.startsWith('#')) return undefined;
  let revoked = false;
  if (fields[0]!.startsWith('@')) {
    if (fields[0] !== '@revoked') return undefined;
    revoked = true;
    fields.shift();
  }
  const [hosts, keyType, base64] = fields;
  if (!hosts || !keyType || !base64 || !BASE64.test(base64)) return undefined;
  const key = Buffer.from(base64, 'base64');
  // OpenSSH rejects a line whose key type field disagrees with the type inside the key.
  if (blobKeyType(key) !== keyType) return undefined;
  return { revoked, hosts, keyType, key };
}

/** The type a public key blob names itself (its leading length-prefixed string), or undefined if malformed. */
function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || 4 + length > blob.length) return undefined;
  return blob.toString('latin1', 4, 4 + length);
}

/** The blob decides; the negotiated algorithm name (e.g. rsa-sha2-512 for an ssh-rsa key) only fills in for a malformed blob. */
function keyTypeOf(blob: Buffer, fallback: string): string {
  return blobKeyType(blob) ?? fallback;
}

function lookupNames(hostNames: string[], port: number): string[] {
  return hostNames.map((name) => lookupName(name, port));
}

function lookupName(hostName: string, port: number): string {
  const name = hostName.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

function hostFieldMatches(field: string, names: string[]): boolean {
  if (field.startsWith(HASH_MAGIC)) return names.some((name) => hashedFieldMatches(field, name));
  return names.some((name) => patternListMatches(field, name));
}

function hashedFieldMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const expected = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.equals(Buffer.from(hash, 'base64'));
}

/** A comma-separated list of patterns; a matching negated pattern (`!name`) vetoes the whole list. */
function patternListMatches(list: string, name: string): boolean {
  let matched = false;
  for (const pattern of list.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (matchesPattern(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH's match_pattern: `*` and `?` are the only wildcards; `[` and `]` are literal. */
export function matchesPattern(pattern: string, text: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(text);
}
