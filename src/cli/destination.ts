import { usageError } from '../errors.js';
import { RemoteStore } from '../remote/remote-store.js';
import { LocalShellTransport } from '../transport/local-shell.js';
import type { Transport } from '../transport/transport.js';
import type { DestinationArgs } from './options.js';

/** Builds the destination store from the flags: a local dir, an SSH host, or a command (--rsh). */
export async function openDestination(args: DestinationArgs): Promise<RemoteStore> {
  if (args.host && args.rsh) throw usageError('--host and --rsh both name a destination; give one of them');
  const transport: Transport = new LocalShellTransport();
  const path = args['remote-path'];
  if (!path) throw usageError('no destination: pass --remote-path DIR (and --host HOST to push over SSH)');
  if (!path.startsWith('/')) throw usageError(`--remote-path ${JSON.stringify(path)} must be an absolute path`);
  return new RemoteStore(transport, { path, sudo: args.sudo });
}
