import { fileURLToPath } from 'node:url';
import { type Measured, runMeasured } from './processes.js';
import type { Scenario, SshSite } from './ssh-site.js';
import type { SyntheticBlob } from '../test/harness/synthetic-store.js';

export type MethodName = 'ollama-push' | 'rsync' | 'scp' | 'ssh-cat';

/** An Ollama store to push: the synthetic one-large-blob store, or the per-tensor one. */
export interface BenchStore {
  readonly modelsDir: string;
  /** Model names as the CLI takes them, e.g. `bench-0:latest`. */
  readonly models: readonly string[];
  /** Bytes of every file in blobs/ and manifests/: what a whole-store copy moves. */
  readonly bytes: number;
  /** The one large blob, when the store has one (what `ssh cat` sends). */
  readonly largeBlob?: SyntheticBlob;
}

export interface TransferJob {
  readonly site: SshSite;
  readonly scenario: Scenario;
  readonly store: BenchStore;
  /** A fresh empty dir on the destination (the same machine: everything is on 127.0.0.1). */
  readonly dest: string;
}

export interface TransferMethod {
  readonly name: MethodName;
  /** The command, for the report. */
  readonly shape: string;
  /** Bytes the method moves for this store. */
  bytes(store: BenchStore): number;
  /** Runs the transfer (under GNU time when there is one). */
  run(job: TransferJob): Promise<Measured>;
}

/** The real CLI, as a user runs it (bin shim, Node startup and all). */
export const OLLAMA_PUSH_CLI = fileURLToPath(new URL('../../bin/ollama-push.js', import.meta.url));

/** The arguments of `node` for one ollama-push run of the store's models into `dest`. */
export function ollamaPushArgs(store: BenchStore, alias: string, dest: string): string[] {
  return [OLLAMA_PUSH_CLI, ...store.models, '--models-dir', store.modelsDir, '--host', alias, '--remote-path', dest, '--json'];
}

const wholeStore = (store: BenchStore) => store.bytes;
const storeDirs = (store: BenchStore) => [`${store.modelsDir}/blobs`, `${store.modelsDir}/manifests`];

function largeBlob(store: BenchStore): SyntheticBlob {
  if (!store.largeBlob) throw new Error('this store has no single large blob');
  return store.largeBlob;
}

/** Every method moves the same store through the same sshd and alias; only ssh-cat is limited to the large blob. */
export const METHODS: readonly TransferMethod[] = [
  {
    name: 'ollama-push',
    shape: 'node bin/ollama-push.js <model> --models-dir <store> --host <alias> --remote-path <dest> --json',
    bytes: wholeStore,
    run: ({ site, scenario, store, dest }) => runMeasured(process.execPath, ollamaPushArgs(store, scenario.alias, dest), { env: site.env }),
  },
  {
    name: 'rsync',
    shape: 'rsync -a -e ssh <store>/blobs <store>/manifests <alias>:<dest>/',
    bytes: wholeStore,
    run: ({ site, scenario, store, dest }) =>
      runMeasured('rsync', ['-a', '-e', ['ssh', ...site.opensshArgs].join(' '), ...storeDirs(store), `${scenario.alias}:${dest}/`], { env: site.env }),
  },
  {
    name: 'scp',
    shape: 'scp -r <store>/blobs <store>/manifests <alias>:<dest>/',
    bytes: wholeStore,
    run: ({ site, scenario, store, dest }) => runMeasured('scp', [...site.opensshArgs, '-q', '-r', ...storeDirs(store), `${scenario.alias}:${dest}/`], { env: site.env }),
  },
  {
    name: 'ssh-cat',
    shape: "ssh <alias> 'cat > <dest>/blobs/sha256-<hex>' < <large blob>",
    bytes: (store) => largeBlob(store).size,
    run: ({ site, scenario, store, dest }) => {
      const blob = largeBlob(store);
      const remote = `mkdir -p ${dest}/blobs && cat > ${dest}/blobs/sha256-${blob.hex}`;
      return runMeasured('ssh', [...site.opensshArgs, scenario.alias, remote], { env: site.env, stdinFile: blob.path });
    },
  },
];

export function method(name: MethodName): TransferMethod {
  return METHODS.find((m) => m.name === name)!;
}
