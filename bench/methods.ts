import { fileURLToPath } from 'node:url';
import { runTimed } from './processes.js';
import type { Scenario, SshSite } from './ssh-site.js';
import type { SyntheticStore } from '../test/harness/synthetic-store.js';

export type MethodName = 'ollama-push' | 'rsync' | 'scp' | 'ssh-cat';

export interface TransferJob {
  readonly site: SshSite;
  readonly scenario: Scenario;
  readonly store: SyntheticStore;
  /** A fresh empty dir on the destination (the same machine: everything is on 127.0.0.1). */
  readonly dest: string;
}

export interface TransferMethod {
  readonly name: MethodName;
  /** The command, for the report. */
  readonly shape: string;
  /** Bytes the method moves for this store. */
  bytes(store: SyntheticStore): number;
  /** Runs the transfer; resolves with its wall time in seconds. */
  run(job: TransferJob): Promise<number>;
}

/** The real CLI, as a user runs it (bin shim, Node startup and all). */
export const OLLAMA_PUSH_CLI = fileURLToPath(new URL('../../bin/ollama-push.js', import.meta.url));

/** The arguments of `node` for one ollama-push run of the store's models into `dest`. */
export function ollamaPushArgs(store: SyntheticStore, alias: string, dest: string): string[] {
  return [OLLAMA_PUSH_CLI, ...store.models, '--models-dir', store.modelsDir, '--host', alias, '--remote-path', dest, '--json'];
}

const wholeStore = (store: SyntheticStore) => store.bytes;
const storeDirs = (store: SyntheticStore) => [`${store.modelsDir}/blobs`, `${store.modelsDir}/manifests`];

/** Every method moves the same store through the same sshd and alias; only ssh-cat is limited to the large blob. */
export const METHODS: readonly TransferMethod[] = [
  {
    name: 'ollama-push',
    shape: 'node bin/ollama-push.js <model> --models-dir <store> --host <alias> --remote-path <dest> --json',
    bytes: wholeStore,
    run: async ({ site, scenario, store, dest }) =>
      (await runTimed(process.execPath, ollamaPushArgs(store, scenario.alias, dest), { env: site.env })).seconds,
  },
  {
    name: 'rsync',
    shape: 'rsync -a -e ssh <store>/blobs <store>/manifests <alias>:<dest>/',
    bytes: wholeStore,
    run: async ({ site, scenario, store, dest }) =>
      (await runTimed('rsync', ['-a', '-e', ['ssh', ...site.opensshArgs].join(' '), ...storeDirs(store), `${scenario.alias}:${dest}/`], { env: site.env }))
        .seconds,
  },
  {
    name: 'scp',
    shape: 'scp -r <store>/blobs <store>/manifests <alias>:<dest>/',
    bytes: wholeStore,
    run: async ({ site, scenario, store, dest }) =>
      (await runTimed('scp', [...site.opensshArgs, '-q', '-r', ...storeDirs(store), `${scenario.alias}:${dest}/`], { env: site.env })).seconds,
  },
  {
    name: 'ssh-cat',
    shape: "ssh <alias> 'cat > <dest>/blobs/sha256-<hex>' < <large blob>",
    bytes: (store) => store.largeBlob.size,
    run: async ({ site, scenario, store, dest }) => {
      const target = `${dest}/blobs/sha256-${store.largeBlob.hex}`;
      const remote = `mkdir -p ${dest}/blobs && cat > ${target}`;
      return (await runTimed('ssh', [...site.opensshArgs, scenario.alias, remote], { env: site.env, stdinFile: store.largeBlob.path })).seconds;
    },
  },
];
