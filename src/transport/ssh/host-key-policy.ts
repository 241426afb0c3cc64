import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PushError } from '../../errors.js';
import { checkHostKey, fingerprintSha256, knownHostsLine, knownKeyTypes, readKnownHostsFiles } from './known-hosts.js';
import type { ResolvedSsh } from './ssh-config.js';

export interface HostKeyPolicy {
  /** ssh2's asynchronous hostVerifier. */
  readonly verify: (key: Buffer, done: (accept: boolean) => void) => void;
  /** Host-key algorithms to offer, those already on file for this host first. */
  readonly preferredAlgorithms: string[] | undefined;
  /** Why the key was refused, once verify said no. */
  rejection(): PushError | undefined;
}

const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};
const DEFAULT_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

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

/** Checks host keys against known_hosts like OpenSSH, appending new ones only for accept-new. */
export async function hostKeyPolicy(target: ResolvedSsh, acceptNew: boolean, log: (line: string) => void): Promise<HostKeyPolicy> {
  const paths = [...target.userKnownHostsFiles, ...target.globalKnownHostsFiles];
  const files = await readKnownHostsFiles(paths);
  const lookup = hostLookup(target);
  const names = [lookup.name];
  const onFile = knownKeyTypes(files, names, lookup.port);
  const preferred = onFile.flatMap((t) => ALGORITHMS_FOR_TYPE[t] ?? [t]);
  let refused: PushError | undefined;
  const { where } = lookup;
  const mayAppend = acceptNew || target.strictHostKeyChecking === 'accept-new' || target.strictHostKeyChecking === 'no';

  const verify = (key: Buffer, done: (accept: boolean) => void) => {
    const type = keyBlobType(key);
    const verdict = checkHostKey(files, names, lookup.port, type, key);
    const fingerprint = fingerprintSha256(key);
    if (verdict.status === 'match') return done(true);
    if (verdict.status === 'revoked') {
      refused = new PushError(`the host key of ${where} (${type} ${fingerprint}) is REVOKED in ${verdict.file}:${verdict.line}; refusing to connect`, { side: 'transport' });
      return done(false);
    }
    if (verdict.status === 'changed') {
      refused = new PushError(
        `WARNING: the host key of ${where} HAS CHANGED (now ${type} ${fingerprint}; ${verdict.file}:${verdict.line} has another). ` +
          `Someone may be intercepting the connection, or the host was reinstalled. If you know why, remove the old key with ` +
          `ssh-keygen -R '${where}' and connect again. Refusing to connect.`,
        { side: 'transport' },
      );
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

  return {
    verify,
    preferredAlgorithms: preferred.length > 0 ? [...new Set([...preferred, ...DEFAULT_ALGORITHMS])] : undefined,
    rejection: () => refused,
  };
}
