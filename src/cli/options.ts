import type { Argv } from 'yargs';

export const MiB = 1024 * 1024;

/** Options every command that reads the local store takes. */
export function localOptions<T>(yargs: Argv<T>) {
  return yargs.option('models-dir', {
    type: 'string',
    describe: 'Local Ollama models dir (default: $OLLAMA_MODELS, ~/.ollama/models, /usr/share/ollama/.ollama/models)',
  });
}

/** Options of the commands that talk to a destination store. */
export function destinationOptions<T>(yargs: Argv<T>) {
  return localOptions(yargs)
    .option('remote-path', {
      type: 'string',
      describe: "Destination models dir (holds blobs/ and manifests/), or an Ollama home holding models/ (e.g. a PVC dir)",
    })
    .option('mkdir', { type: 'boolean', default: false, describe: 'Create --remote-path if it does not exist' })
    .option('host', {
      type: 'string',
      array: true,
      describe: 'SSH destination: an alias from ~/.ssh/config, [user@]host[:port], [v6addr]:port; repeat to push to several hosts at once',
    })
    .option('identity', { alias: 'i', type: 'string', array: true, describe: 'SSH private key to use (overrides IdentityFile; may repeat)' })
    .option('port', { alias: 'p', type: 'number', describe: 'SSH port (overrides the config and host:port)' })
    .option('login', { alias: 'l', type: 'string', describe: 'SSH user (overrides the config and user@host)' })
    .option('ssh-config', { type: 'string', describe: 'SSH config file (default ~/.ssh/config)' })
    .option('accept-new-host-key', { type: 'boolean', default: false, describe: 'Trust and record the key of a host not yet in known_hosts (never a changed key)' })
    .option('chown', { type: 'string', describe: 'Give published files to USER[:GROUP] (with --sudo), e.g. ollama:ollama' })
    .option('rsh', { type: 'string', describe: 'Reach the destination through this command, like rsync -e (e.g. "ssh -o ControlMaster=auto homelab-1")' })
    .option('pvc', { type: 'string', describe: "Push into this PersistentVolumeClaim, [NAMESPACE/]NAME: over SSH to its volume's node and directory (--host overrides the node)" })
    .option('pod', { type: 'string', describe: 'Push through kubectl exec into this pod, [NAMESPACE/]POD (default --remote-path /root/.ollama)' })
    .option('container', { alias: 'c', type: 'string', describe: 'Container of --pod (default: the one kubectl exec picks)' })
    .option('context', { type: 'string', describe: 'kubectl context for --pvc and --pod (default: the current one)' })
    .option('kubeconfig', { type: 'string', describe: 'kubeconfig file for --pvc and --pod (default: $KUBECONFIG, ~/.kube/config)' })
    .option('sudo', { type: 'boolean', default: false, describe: 'Run remote commands through sudo -n' })
    .option('jobs', { alias: 'j', type: 'number', describe: 'Parallel transfers (channels); default: chosen from the link' })
    .option('range-size', { type: 'number', default: 64, describe: 'Split blobs into ranges of this many MiB, each resumable' })
    .option('bwlimit', { type: 'string', describe: 'Cap the total rate across all channels, like rsync: 50M (MiB/s), 500K, 20MB' })
    .option('retries', { type: 'number', default: 5, describe: 'Reconnect and resume this many times after a dropped connection' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON document on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing on success' });
}

export interface LocalArgs {
  'models-dir'?: string | undefined;
  verbose?: boolean | undefined;
}

export interface DestinationArgs extends LocalArgs {
  'remote-path'?: string | undefined;
  mkdir: boolean;
  host?: string | undefined;
  identity?: string[] | undefined;
  port?: number | undefined;
  login?: string | undefined;
  'ssh-config'?: string | undefined;
  'accept-new-host-key': boolean;
  chown?: string | undefined;
  rsh?: string | undefined;
  pvc?: string | undefined;
  pod?: string | undefined;
  container?: string | undefined;
  context?: string | undefined;
  kubeconfig?: string | undefined;
  sudo: boolean;
  jobs?: number | undefined;
  'range-size': number;
  retries: number;
  bwlimit?: string | undefined;
  json: boolean;
  quiet: boolean;
}
