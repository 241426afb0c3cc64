import { openDestination as openSpec } from '../destination/open-destination.js';
import type { Destination } from '../destination/destination.js';
import { parseRate } from '../transfer/bandwidth-limit.js';
import { checkNumbers, type DestinationArgs } from './options.js';

/** A command's destination flags as yargs parses them: `--host` may repeat, so it is a list. */
export type DestinationFlags<T extends DestinationArgs = DestinationArgs> = Omit<T, 'host'> & { host?: string[] | undefined };

/** T with `host` narrowed to one host (a mapped type, not Omit, so yargs' index signature keeps the named flags). */
type OneHost<T> = { [K in keyof T as K extends 'host' ? never : K]: T[K] } & { host: string | undefined };

/** One set of destination flags per `--host` (yargs gives a list once the flag may repeat). */
export function perHost<T extends { host?: string | readonly string[] | undefined }>(args: T): Array<OneHost<T>> {
  const hosts = [args.host].flat().filter((h): h is string => h !== undefined);
  return hosts.length <= 1 ? [{ ...args, host: hosts[0] }] : hosts.map((host) => ({ ...args, host }));
}

/** Opens the destination the flags name (see DestinationSpec); numeric flags are checked first. */
export function openDestination(args: DestinationArgs, log: (line: string) => void, signal?: AbortSignal): Promise<Destination> {
  checkNumbers(args);
  if (args.bwlimit) parseRate(args.bwlimit);
  return openSpec({
    remotePath: args['remote-path'],
    host: args.host,
    login: args.login,
    port: args.port,
    identity: args.identity,
    sshConfig: args['ssh-config'],
    acceptNewHostKey: args['accept-new-host-key'],
    rsh: args.rsh,
    pvc: args.pvc,
    pod: args.pod,
    container: args.container,
    context: args.context,
    kubeconfig: args.kubeconfig,
    sudo: args.sudo,
    chown: args.chown,
    registry: args.registry,
    caFile: args['ca-file'],
    insecure: args.insecure,
    stallTimeoutMs: args['stall-timeout'] === undefined ? undefined : args['stall-timeout'] * 1000,
    signal,
    log,
    ...(args.verbose ? { trace: (line: string) => process.stderr.write(`ollama-push: ${line}\n`) } : {}),
  });
}
