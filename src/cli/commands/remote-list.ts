import type { Argv } from 'yargs';
import type { Destination, DestinationListing } from '../../destination/destination.js';
import { PushError, usageError } from '../../errors.js';
import { type DestinationFlags, openDestination, perHost } from '../destination.js';
import { type DestinationArgs, destinationOptions } from '../options.js';
import { formatListing, listingJson } from '../store-output.js';

/** `list`'s flags: the local ones, and the destination ones (any of them lists the destination instead). */
export function listOptions<T>(yargs: Argv<T>) {
  return destinationOptions(yargs);
}

const DESTINATION_FLAGS = ['remote-path', 'host', 'rsh', 'pvc', 'pod'];

/**
 * Whether a destination flag is on the command line: then `list` lists the destination. The
 * OLLAMA_PUSH_* variables alone (exported for push in a Makefile or a shell) never turn `list` away
 * from the local store; once it lists a destination, they apply as for every command.
 */
export function namesDestination(_args: object, commandLine: readonly string[] = process.argv.slice(2)): boolean {
  return commandLine.some((word) => DESTINATION_FLAGS.some((flag) => word === `--${flag}` || word.startsWith(`--${flag}=`)));
}

/** Opens the one destination the flags name, for the Day 2 commands (list, rm, gc, sync): one at a time. */
export async function openOne(given: DestinationFlags, command: string): Promise<{ args: DestinationArgs; destination: Destination }> {
  const [args, ...more] = perHost(given);
  if (more.length > 0 || !args) throw usageError(`${command} works on one destination at a time; give one --host`);
  const destination = await openDestination(args, (line) => args.quiet || process.stderr.write(`ollama-push: ${line}\n`));
  return { args, destination };
}

/** The destination's listing; a store that is not there is an error (a typo in a PVC id must not look like an empty store). */
export async function listingOf(destination: Destination, command: string): Promise<DestinationListing> {
  if (!destination.list) throw usageError(`${command} works on Ollama stores (a directory, --host, --rsh, --pvc, --pod), not on ${destination.label}`);
  const listing = await destination.list();
  if (!listing.exists) {
    throw new PushError(`no Ollama store at ${destination.where}: the remote path does not exist; check it (a typo in a PVC id?)`, { side: 'usage' });
  }
  for (const skipped of listing.skipped) process.stderr.write(`ollama-push: warning: ${describeSkipped(skipped, listing.location)}\n`);
  return listing;
}

function describeSkipped(entry: string, location: string): string {
  const [kind, ...rest] = entry.split(' ');
  const path = `${location}/manifests/${rest.join(' ')}`;
  if (kind === 'link') return `${path} is a symbolic link; ollama-push never follows links in the store (rm and gc refuse to run until it is removed)`;
  if (kind === 'name') return `${path} (unusual characters shown as ?) is not a model name; skipped, as ollama list skips it`;
  if (kind === 'notfile') return `${path} is not a regular file where a manifest belongs; skipped`;
  return `${path} is not a model name Ollama accepts; skipped, as ollama list skips it`;
}

/** `ollama-push list --host ... --remote-path ...`: the destination's models, as `ollama list` shows them. */
export async function listDestination(given: DestinationFlags): Promise<number> {
  const { args, destination } = await openOne(given, 'list');
  try {
    const listing = await listingOf(destination, 'list');
    for (const m of listing.models) {
      if (m.problem) process.stderr.write(`ollama-push: warning: ${m.problem}\n`);
    }
    if (args.json) process.stdout.write(`${JSON.stringify(listingJson(listing), null, 2)}\n`);
    else if (!args.quiet) process.stdout.write(`${formatListing(listing)}\n`);
    return 0;
  } finally {
    await destination.close();
  }
}
