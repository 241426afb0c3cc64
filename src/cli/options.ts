import { DEFAULT_RANGE_SIZE } from '../transfer/plan.js';
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import { DEFAULT_STALL_TIMEOUT_MS } from '../transport/stall-watch.js';

export const MiB = 1024 * 1024;
export const DEFAULT_RANGE_MIB = DEFAULT_RANGE_SIZE / MiB;

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
    .option('registry', {
      type: 'string',
      describe: 'Push into this OCI registry instead, HOST[:PORT][/NAMESPACE]: every Ollama pulls the model from there by the name printed',
    })
    .option('ca-file', { type: 'string', describe: "A PEM CA to check --registry's certificate against, besides the system's" })
    .option('insecure', { type: 'boolean', describe: 'Talk plain HTTP to --registry (labs only)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON document on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing on success' });
}

/** --verify, for push and diff. */
export function verifyOption<T>(yargs: Argv<T>) {
  return yargs.option('verify', {
    type: 'boolean',
    default: false,
    describe: "Also hash the destination's blobs of these models (like rsync -c); without it, present means the right name and size",
  });
}

/** Options of the commands that send data (push, import). */
export function sendingOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('bwlimit', { type: 'string', describe: 'Cap the total rate across all channels, like rsync: 50M (MiB/s), 500K, 20MB' })
    .option('retries', { type: 'number', default: 5, describe: 'Reconnect and resume this many times after a dropped connection' })
    .option('stall-timeout', {
      type: 'number',
      default: DEFAULT_STALL_TIMEOUT_MS / 1000,
      describe: 'Drop a connection whose destination shows no progress for this many seconds (a stuck disk or process there) and resume; 0: never',
    });
}

/** Options of push's parallel, ranged transfer. */
export function rangeOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('jobs', { alias: 'j', type: 'number', describe: 'Parallel transfers (channels); default: 1 on a LAN (2 for batches of small blobs), 6 when the round trip is 15 ms or more, 4 where it is not known (kubectl, --rsh, a local directory)' })
    .option('range-size', { type: 'number', default: DEFAULT_RANGE_MIB, describe: 'Split blobs into ranges of at most this many MiB, evened out over the channels, each resumable' });
}

/** The numeric destination flags, checked before anything connects (yargs turns `abc` into NaN). */
export function checkNumbers(args: DestinationArgs): void {
  const whole = (value: number | undefined, min: number) => value === undefined || (Number.isInteger(value) && value >= min);
  if (!whole(args.jobs, 1)) throw usageError('--jobs must be a whole number of at least 1');
  if (!whole(args['range-size'], 1)) throw usageError('--range-size must be a whole number of MiB, at least 1');
  if (!whole(args.retries, 0)) throw usageError('--retries must be a whole number');
  const stall = args['stall-timeout'];
  if (stall !== undefined && !(Number.isFinite(stall) && stall >= 0)) throw usageError('--stall-timeout must be a number of seconds (0: never)');
  if (!whole(args.port, 1) || (args.port ?? 0) > 65535) throw usageError('--port must be a port number (1-65535)');
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
  registry?: string | undefined;
  'ca-file'?: string | undefined;
  insecure?: boolean | undefined;
  sudo: boolean;
  json: boolean;
  quiet: boolean;
  /** Only for the commands that take them (sendingOptions, rangeOptions). */
  jobs?: number | undefined;
  'range-size'?: number | undefined;
  retries?: number | undefined;
  bwlimit?: string | undefined;
  'stall-timeout'?: number | undefined;
}

export interface SendingArgs {
  retries: number;
  bwlimit?: string | undefined;
}

export interface RangeArgs {
  jobs?: number | undefined;
  'range-size': number;
}

/** Every flag can also come from the environment: `--remote-path` from `OLLAMA_PUSH_REMOTE_PATH` (a flag on the command line wins). */
export const ENV_PREFIX = 'OLLAMA_PUSH';

/** `OLLAMA_PUSH_REMOTE_PATH` -> `remote-path`; undefined for a variable without the prefix. */
export function envFlagName(variable: string): string | undefined {
  if (!variable.startsWith(`${ENV_PREFIX}_`) || variable.length === ENV_PREFIX.length + 1) return undefined;
  return variable.slice(ENV_PREFIX.length + 1).toLowerCase().replace(/_/g, '-');
}

/** The flags the commands take, from their yargs builders. */
export interface FlagSchema {
  /** Every flag and alias of every command. */
  readonly all: ReadonlySet<string>;
  readonly booleans: ReadonlySet<string>;
}

interface YargsOptions {
  key: Record<string, unknown>;
  boolean: string[];
  array: string[];
  alias: Record<string, string[]>;
}

/** yargs' own view of the options defined so far (not in its type definitions). */
function definedOptions(yargs: unknown): YargsOptions {
  return (yargs as { getOptions(): YargsOptions }).getOptions();
}

export function flagSchema(instances: readonly unknown[]): FlagSchema {
  const all = new Set<string>();
  const booleans = new Set<string>();
  for (const instance of instances) {
    const options = definedOptions(instance);
    for (const key of Object.keys(options.key)) all.add(key);
    for (const [key, aliases] of Object.entries(options.alias)) for (const name of [key, ...aliases]) all.add(name);
    for (const key of options.boolean) booleans.add(key);
  }
  return { all, booleans };
}

/** OLLAMA_PUSH_* variables that are not flags: registry credentials, read where they are used (never on a command line). */
const NOT_FLAGS = new Set(['OLLAMA_PUSH_REGISTRY_USER', 'OLLAMA_PUSH_REGISTRY_PASSWORD']);

const ENV_TRUE = /^(1|true|yes|on)$/i;
const ENV_FALSE = /^(0|false|no|off)$/i;

/**
 * Readies the OLLAMA_PUSH_* variables for yargs' `.env()`, as Makefiles and CI set them: an empty one
 * counts as unset; a boolean flag takes 1/0, yes/no and on/off besides true/false (yargs alone reads
 * `1` as false); one that names no flag of any command is a usage error, so a typo is not ignored.
 * `schema` is asked for only when such a variable is set: building it runs every command's builder.
 */
export function prepareEnv(env: NodeJS.ProcessEnv, schema: () => FlagSchema): void {
  for (const variable of Object.keys(env)) {
    const flag = envFlagName(variable);
    if (flag === undefined || NOT_FLAGS.has(variable)) continue;
    const value = env[variable] ?? '';
    if (value === '') {
      delete env[variable];
      continue;
    }
    if (!schema().all.has(flag)) {
      throw usageError(`${variable} is set, but --${flag} is not an ollama-push flag; unset it (run ollama-push --help for the flags)`);
    }
    if (schema().booleans.has(flag)) {
      if (ENV_TRUE.test(value)) env[variable] = 'true';
      else if (ENV_FALSE.test(value)) env[variable] = 'false';
      else throw usageError(`${variable}=${JSON.stringify(value)}: expected 1 or 0 (or true/false, yes/no)`);
    }
  }
}

/**
 * yargs middleware, run before validation: drops options that came from OLLAMA_PUSH_* variables but
 * that the running command does not take, so `OLLAMA_PUSH_REMOTE_PATH` exported for `push` does not
 * make `list` fail with an unknown argument. A flag typed on the command line is left to strict mode.
 */
export function ignoreForeignEnvOptions(commandLine: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return (argv: Record<string, unknown>, yargs: unknown): void => {
    const options = definedOptions(yargs);
    const known = new Set(Object.keys(options.key));
    for (const [key, aliases] of Object.entries(options.alias)) for (const name of [key, ...aliases]) known.add(name);
    for (const variable of Object.keys(env)) {
      const flag = envFlagName(variable);
      if (flag === undefined || known.has(flag)) continue;
      if (commandLine.some((arg) => arg === `--${flag}` || arg.startsWith(`--${flag}=`) || arg === `--no-${flag}`)) continue;
      delete argv[flag];
      delete argv[flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())];
    }
  };
}

/**
 * yargs middleware, run before validation: a flag that takes one value but was given several times is a
 * usage error (yargs would pass on a list, so `--login a --login b` logged in as `a,b`). `--host` and
 * the other flags declared as arrays may repeat, and so do the `positionals` (yargs does not list a
 * default command's variadic positional among its arrays).
 */
export function rejectRepeatedFlags(positionals: ReadonlySet<string>) {
  return (argv: Record<string, unknown>, yargs: unknown): void => {
    const options = definedOptions(yargs);
    for (const flag of Object.keys(options.key)) {
      const value = argv[flag];
      if (!Array.isArray(value) || options.array.includes(flag) || positionals.has(flag)) continue;
      throw usageError(`--${flag} given ${value.length} times (${value.join(', ')}); give it once`);
    }
  };
}

/** The names of the positional arguments in yargs command strings such as `push <models..>`. */
export function positionalNames(commands: readonly string[]): Set<string> {
  return new Set(commands.flatMap((command) => [...command.matchAll(/[<[]([\w-]+)(?:\.\.)?[>\]]/g)].map((match) => match[1]!)));
}
