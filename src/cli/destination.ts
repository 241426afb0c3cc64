import { usageError } from '../errors.js';
import { RemoteStore } from '../remote/remote-store.js';
import { ShStore } from '../remote/sh-store.js';
import { CommandTransport } from '../transport/command-transport.js';
import { LocalShellTransport } from '../transport/local-shell.js';
import { resolveSsh } from '../transport/ssh/ssh-config.js';
import { NATIVE_CRYPTO_MISSING, nativeCryptoAvailable } from '../transport/ssh/native-crypto.js';
import { SshTransport } from '../transport/ssh/ssh-transport.js';
import type { Transport } from '../transport/transport.js';
import { tracingTransport } from '../transport/tracing-transport.js';
import { findDefaultRemotePath } from '../remote/default-remote-path.js';
import { resolveKubernetesTarget } from '../k8s/kubernetes-target.js';
import { checkNumbers, type DestinationArgs } from './options.js';
import { parseRate } from '../transfer/bandwidth-limit.js';

const CHOWN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;

/** A command's destination flags as yargs parses them: `--host` may repeat, so it is a list. */
export type DestinationFlags<T extends DestinationArgs = DestinationArgs> = Omit<T, 'host'> & { host?: string[] | undefined };

/** T with `host` narrowed to one host (a mapped type, not Omit, so yargs' index signature keeps the named flags). */
type OneHost<T> = { [K in keyof T as K extends 'host' ? never : K]: T[K] } & { host: string | undefined };

/** One set of destination flags per `--host` (yargs gives a list once the flag may repeat). */
export function perHost<T extends { host?: string | readonly string[] | undefined }>(args: T): Array<OneHost<T>> {
  const hosts = [args.host].flat().filter((h): h is string => h !== undefined);
  return hosts.length <= 1 ? [{ ...args, host: hosts[0] }] : hosts.map((host) => ({ ...args, host }));
}

/** Builds the destination store from the flags: a local dir, an SSH host, a command (--rsh), a PVC's node dir (--pvc) or a pod (--pod). */
export async function openDestination(args: DestinationArgs, log: (line: string) => void): Promise<ShStore> {
  checkNumbers(args);
  if (args.bwlimit) parseRate(args.bwlimit);
  if (args.host === '' || args.rsh === '') throw usageError(`--${args.host === '' ? 'host' : 'rsh'} needs a value`);
  if (args.host && args.rsh) throw usageError('--host and --rsh both name a destination; give one of them');
  if (args.chown && !CHOWN.test(args.chown)) throw usageError(`--chown ${JSON.stringify(args.chown)} is not USER or USER:GROUP`);
  if (args.chown && !args.sudo) throw usageError('--chown needs --sudo (only root can give files to another user)');
  const k8s = await resolveKubernetesTarget(args, log);
  if (k8s) args = { ...args, host: k8s.host, 'remote-path': k8s.remotePath };
  const remotePath = args['remote-path'];
  if (remotePath !== undefined && !remotePath.startsWith('/')) {
    throw usageError(`--remote-path ${JSON.stringify(remotePath)} must be an absolute path`);
  }
  const opened = k8s?.transport ?? (await openTransport(args, log));
  const transport = args.verbose ? tracingTransport(opened, (line) => process.stderr.write(`ollama-push: ${line}\n`)) : opened;
  try {
    const path = remotePath ?? (await defaultPath(transport, args, log));
    return new ShStore(new RemoteStore(transport, { path, sudo: args.sudo, ...(args.chown ? { chown: args.chown } : {}) }));
  } catch (error) {
    await transport.close();
    throw error;
  }
}

async function openTransport(args: DestinationArgs, log: (line: string) => void): Promise<Transport> {
  if (args.rsh) return new CommandTransport(args.rsh);
  if (!args.host) return new LocalShellTransport();
  const overrides = {
    ...(args['ssh-config'] ? { configFile: args['ssh-config'] } : {}),
    ...(args.login ? { user: args.login } : {}),
    ...(args.port ? { port: args.port } : {}),
    ...(args.identity?.length ? { identityFiles: args.identity } : {}),
  };
  if (!nativeCryptoAvailable()) log(NATIVE_CRYPTO_MISSING);
  const target = await resolveSsh(args.host, overrides);
  const transport = new SshTransport(target, {
    acceptNewHostKey: args['accept-new-host-key'],
    log,
    resolveHop: (hop) => resolveSsh(hop, args['ssh-config'] ? { configFile: args['ssh-config'] } : {}),
  });
  await transport.connect();
  return transport;
}

async function defaultPath(transport: Transport, args: DestinationArgs, log: (line: string) => void): Promise<string> {
  if (!args.host && !args.rsh) throw usageError('no destination: pass --remote-path DIR (and --host HOST to push over SSH)');
  const found = await findDefaultRemotePath(transport, args.sudo);
  log(`using remote path ${found.path} (${found.why}); pass --remote-path to choose another`);
  return found.path;
}
