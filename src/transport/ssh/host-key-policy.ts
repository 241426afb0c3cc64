import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PushError } from '../../errors.js';
import { checkHostKey, fingerprintSha256, type HostKeyVerdict, knownHostsLine, knownKeyTypes, readKnownHostsFiles } from './known-hosts.js';
import { DEFAULT_HOST_KEY_ALGORITHMS, type ResolvedSsh, SSH2_HOST_KEY_ALGORITHMS } from './ssh-config.js';

export interface HostKeyPolicy {
  /** ssh2's asynchronous hostVerifier. */
  readonly verify: (key: Buffer, done: (accept: boolean) => void) => void;
  /** Host-key algorithms to offer: those the config allows, the ones of keys on file first. */
  readonly preferredAlgorithms: string[];
  /** ssh2's debug hook: the only place where ssh2 tells the host key algorithms the server offers. */
  readonly debug: (line: string) => void;
  /** Why the connection failed, once verify said no or no host key algorithm was agreed on. */
  rejection(): PushError | undefined;
}

const SERVER_ALGORITHMS_LINE = 'Handshake: (remote) Host key format: ';

/** The key blob names its own type: a length-prefixed string at its start. */
export function keyBlobType(blob: Buffer): string {
  return blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') : '';
}

/** The known_hosts line accept-new appends: hashed when the config says HashKnownHosts yes, as OpenSSH does. */
function recordedLine(lookup: HostLookup, hashed: boolean, type: string, key: Buffer): string {
  if (hashed) return knownHostsLine(lookup.name, lookup.port, type, key);
  return `${lookup.where} ${type} ${key.toString('base64')}`;
}

interface HostLookup {
  readonly name: string;
  /** 22 means the name is used as it is; another port makes it `[name]:port`. */
  readonly port: number;
  /** The name as known_hosts has it. */
  readonly where: string;
}

/**
 * What OpenSSH looks the host up under: its HostName (after the alias is resolved), as `[name]:port`
 * off port 22; or the HostKeyAlias exactly as written.
 */
function hostLookup(target: ResolvedSsh): HostLookup {
  if (target.hostKeyAlias) return { name: target.hostKeyAlias, port: 22, where: target.hostKeyAlias };
  return { name: target.hostName, port: target.port, where: target.port === 22 ? target.hostName : `[${target.hostName}]:${target.port}` };
}

/** The algorithms the config allows; ssh2 would take an empty list for its defaults, SHA-1 `ssh-rsa` among them. */
function allowedAlgorithms(target: ResolvedSsh): string[] {
  const allowed = target.hostKeyAlgorithms ?? DEFAULT_HOST_KEY_ALGORITHMS;
  if (allowed.length > 0) return allowed;
  throw new PushError(
    `HostKeyAlgorithms for ${target.alias} allows none of the host key algorithms ollama-push implements ` +
      `(${SSH2_HOST_KEY_ALGORITHMS.join(',')}); go through OpenSSH with --rsh "ssh ${target.alias}"`,
    { side: 'usage' },
  );
}

/** As OpenSSH orders them: the algorithms of key types on file first, each part in the allowed order. */
function preferKnownTypes(allowed: string[], onFile: string[]): string[] {
  const keyType = (algorithm: string) => (algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm);
  const known = allowed.filter((algorithm) => onFile.includes(keyType(algorithm)));
  return [...known, ...allowed.filter((algorithm) => !known.includes(algorithm))];
}

/** Why no host key algorithm was agreed on, or undefined when the server offers one of the allowed ones. */
function noCommonAlgorithm(alias: string, offered: string[], allowed: string[]): PushError | undefined {
  if (offered.some((algorithm) => allowed.includes(algorithm))) return undefined;
  if (offered.includes('ssh-rsa')) {
    return new PushError(
      `${alias} offers only SHA-1 ssh-rsa host key signatures, which OpenSSH refuses since 8.8; if you trust it, ` +
        `add \`HostKeyAlgorithms +ssh-rsa\` for this host in ~/.ssh/config (better: enable rsa-sha2-256/512 or an ed25519 host key on it)`,
      { side: 'transport' },
    );
  }
  return new PushError(
    `${alias} offers the host key algorithms ${offered.join(',')}, none of those allowed here (${allowed.join(',')}); ` +
      `check HostKeyAlgorithms for this host in ~/.ssh/config, or go through OpenSSH with --rsh "ssh ${alias}"`,
    { side: 'transport' },
  );
}

function changedKeyError(where: string, type: string, fingerprint: string, verdict: Extract<HostKeyVerdict, { status: 'changed' }>): PushError {
  const onFile = verdict.keyType === type ? `another ${type} key` : `its ${verdict.keyType} key, which the host no longer offers`;
  return new PushError(
    `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${where}: it now shows ${type} ${fingerprint}, but ` +
      `${verdict.file}:${verdict.line} has ${onFile}. Someone may be intercepting the connection, or the host was reinstalled. ` +
      `If you know why, remove the old key with ssh-keygen -R '${where}' and connect again. Refusing to connect.`,
    { side: 'transport' },
  );
}

/** Checks host keys against known_hosts like OpenSSH, appending new ones only for accept-new. */
export async function hostKeyPolicy(target: ResolvedSsh, acceptNew: boolean, log: (line: string) => void): Promise<HostKeyPolicy> {
  const allowed = allowedAlgorithms(target);
  const paths = [...target.userKnownHostsFiles, ...target.globalKnownHostsFiles];
  const files = await readKnownHostsFiles(paths);
  const lookup = hostLookup(target);
  const names = [lookup.name];
  let refused: PushError | undefined;
  let offered: string[] | undefined;
  const { where } = lookup;
  const mayAppend = acceptNew || target.strictHostKeyChecking === 'accept-new' || target.strictHostKeyChecking === 'no';

  const record = (type: string, key: Buffer, fingerprint: string, done: (accept: boolean) => void) => {
    const file = target.userKnownHostsFiles[0];
    if (!file) return done(true);
    mkdir(dirname(file), { recursive: true, mode: 0o700 })
      .then(() => appendFile(file, `${recordedLine(lookup, target.hashKnownHosts, type, key)}\n`, { mode: 0o600 }))
      .then(
        () => {
          log(`added the host key of ${where} (${type} ${fingerprint}) to ${file}`);
          done(true);
        },
        (error: unknown) => {
          refused = new PushError(`cannot record the host key of ${where} in ${file}: ${(error as Error).message}`, { side: 'transport' });
          done(false);
        },
      );
  };

  const verify = (key: Buffer, done: (accept: boolean) => void) => {
    const type = keyBlobType(key);
    const verdict = checkHostKey(files, names, lookup.port, key);
    const fingerprint = fingerprintSha256(key);
    if (verdict.status === 'match') return done(true);
    if (verdict.status === 'revoked') {
      refused = new PushError(`the host key of ${where} (${type} ${fingerprint}) is REVOKED in ${verdict.file}:${verdict.line}; refusing to connect`, { side: 'transport' });
      return done(false);
    }
    if (verdict.status === 'changed') {
      refused = changedKeyError(where, type, fingerprint, verdict);
      return done(false);
    }
    if (!mayAppend) {
      refused = new PushError(
        `unknown host key for ${where}: ${type} ${fingerprint}. If that is the key of your host, run \`ssh ${target.alias}\` once ` +
          `to record it, or pass --accept-new-host-key`,
        { side: 'transport' },
      );
      return done(false);
    }
    record(type, key, fingerprint, done);
  };

  return {
    verify,
    preferredAlgorithms: preferKnownTypes(allowed, knownKeyTypes(files, names, lookup.port)),
    debug: (line) => {
      if (line.startsWith(SERVER_ALGORITHMS_LINE)) offered = line.slice(SERVER_ALGORITHMS_LINE.length).split(',');
    },
    rejection: () => refused ?? (offered && noCommonAlgorithm(target.alias, offered, allowed)),
  };
}
