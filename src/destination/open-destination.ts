import { usageError } from '../errors.js';
import { resolveKubernetesTarget } from '../k8s/kubernetes-target.js';
import { findDefaultRemotePath } from '../remote/default-remote-path.js';
import { RemoteStore } from '../remote/remote-store.js';
import { ShStore } from '../remote/sh-store.js';
import { CommandTransport } from '../transport/command-transport.js';
import { LocalShellTransport } from '../transport/local-shell.js';
import { NATIVE_CRYPTO_MISSING, nativeCryptoAvailable } from '../transport/ssh/native-crypto.js';
import { resolveSsh } from '../transport/ssh/ssh-config.js';
import { SshTransport } from '../transport/ssh/ssh-transport.js';
import { tracingTransport } from '../transport/tracing-transport.js';
import type { Transport } from '../transport/transport.js';
import type { Destination } from './destination.js';

/** Where to push, as the CLI's destination flags say it. */
export interface DestinationSpec {
  /** The destination models dir, or an Ollama home holding models/. Over SSH it defaults to the store found there. */
  readonly remotePath?: string | undefined;
  /** SSH destination: an alias from ~/.ssh/config, [user@]host[:port]. Without host, rsh, pvc or pod: this machine. */
  readonly host?: string | undefined;
  readonly login?: string | undefined;
  readonly port?: number | undefined;
  readonly identity?: readonly string[] | undefined;
  readonly sshConfig?: string | undefined;
  /** Trust and record the key of a host not yet in known_hosts (never a changed key). */
  readonly acceptNewHostKey?: boolean | undefined;
  /** Reach the destination through this command, like rsync -e. */
  readonly rsh?: string | undefined;
  /** A PersistentVolumeClaim [NAMESPACE/]NAME: over SSH to its volume's node and directory. */
  readonly pvc?: string | undefined;
  /** A pod [NAMESPACE/]POD, reached through kubectl exec. */
  readonly pod?: string | undefined;
  readonly container?: string | undefined;
  readonly context?: string | undefined;
  readonly kubeconfig?: string | undefined;
  /** Run the destination programs through sudo -n. */
  readonly sudo?: boolean | undefined;
  /** Give published files to USER[:GROUP] (needs sudo). */
  readonly chown?: string | undefined;
  /** An OCI registry, HOST[:PORT][/NAMESPACE], instead of an Ollama store. */
  readonly registry?: string | undefined;
  /** A PEM CA the registry's certificate is checked against, besides the system's. */
  readonly caFile?: string | undefined;
  /** Plain HTTP to the registry (labs). */
  readonly insecure?: boolean | undefined;
  /**
   * Drop a command whose destination shows no progress for this long, and resume (default 60 s; 0: never).
   * For Ollama stores (SSH, --rsh, kubectl exec, local); a registry has its HTTP timeouts.
   */
  readonly stallTimeoutMs?: number | undefined;
  /** Aborts a registry's requests (Ctrl-C). */
  readonly signal?: AbortSignal | undefined;
  /** Told of choices made on the way (the remote path found, a host key recorded). */
  readonly log?: ((line: string) => void) | undefined;
  /** Told of every remote command and its end (--verbose). */
  readonly trace?: ((line: string) => void) | undefined;
}

const CHOWN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;

/** Opens the destination a spec names: a local dir, an SSH host, a command, a PVC's node dir, a pod or a registry. */
export async function openDestination(spec: DestinationSpec): Promise<Destination> {
  if (spec.registry !== undefined) return openRegistry(spec);
  if (spec.caFile !== undefined || spec.insecure) throw usageError('--ca-file and --insecure are for --registry');
  return openShStore(spec);
}

const NOT_WITH_REGISTRY = ['host', 'rsh', 'remotePath', 'pvc', 'pod', 'sudo', 'chown'] as const;
const FLAG_NAMES: Record<(typeof NOT_WITH_REGISTRY)[number], string> = { host: 'host', rsh: 'rsh', remotePath: 'remote-path', pvc: 'pvc', pod: 'pod', sudo: 'sudo', chown: 'chown' };

/** The registry client is loaded only for a registry: every command starts faster without it. */
async function openRegistry(spec: DestinationSpec): Promise<Destination> {
  const clash = NOT_WITH_REGISTRY.find((key) => spec[key] !== undefined && spec[key] !== false);
  if (clash) throw usageError(`--registry and --${FLAG_NAMES[clash]} both name a destination; give one of them`);
  const [{ parseRegistryAddress }, { RegistryDestination }] = await Promise.all([import('../registry/registry-address.js'), import('../registry/registry-destination.js')]);
  return RegistryDestination.open({ address: parseRegistryAddress(spec.registry ?? '', spec.insecure ?? false), caFile: spec.caFile, signal: spec.signal });
}

async function openShStore(spec: DestinationSpec): Promise<ShStore> {
  const log = spec.log ?? (() => {});
  if (spec.host === '' || spec.rsh === '') throw usageError(`--${spec.host === '' ? 'host' : 'rsh'} needs a value`);
  if (spec.host && spec.rsh) throw usageError('--host and --rsh both name a destination; give one of them');
  if (spec.chown && !CHOWN.test(spec.chown)) throw usageError(`--chown ${JSON.stringify(spec.chown)} is not USER or USER:GROUP`);
  if (spec.chown && !spec.sudo) throw usageError('--chown needs --sudo (only root can give files to another user)');
  const k8s = await resolveKubernetesTarget(
    { pvc: spec.pvc, pod: spec.pod, container: spec.container, context: spec.context, kubeconfig: spec.kubeconfig, host: spec.host, rsh: spec.rsh, 'remote-path': spec.remotePath },
    log,
  );
  if (k8s) spec = { ...spec, host: k8s.host, remotePath: k8s.remotePath };
  const remotePath = spec.remotePath;
  if (remotePath !== undefined && !remotePath.startsWith('/')) {
    throw usageError(`--remote-path ${JSON.stringify(remotePath)} must be an absolute path`);
  }
  const opened = k8s?.transport ?? (await openTransport(spec, log));
  const transport = spec.trace ? tracingTransport(opened, spec.trace) : opened;
  try {
    const path = remotePath ?? (await defaultPath(transport, spec, log));
    const stall = spec.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: spec.stallTimeoutMs };
    const remote = new RemoteStore(transport, { path, sudo: spec.sudo ?? false, ...(spec.chown ? { chown: spec.chown } : {}), ...stall });
    // Every command's first program needs a shell: its login shell starts while this side reads the models' blobs.
    await remote.startShell();
    return new ShStore(remote);
  } catch (error) {
    await transport.close();
    throw error;
  }
}

async function openTransport(spec: DestinationSpec, log: (line: string) => void): Promise<Transport> {
  if (spec.rsh) return new CommandTransport(spec.rsh);
  if (!spec.host) return new LocalShellTransport();
  const overrides = {
    ...(spec.sshConfig ? { configFile: spec.sshConfig } : {}),
    ...(spec.login ? { user: spec.login } : {}),
    ...(spec.port ? { port: spec.port } : {}),
    ...(spec.identity?.length ? { identityFiles: [...spec.identity] } : {}),
  };
  if (!nativeCryptoAvailable()) log(NATIVE_CRYPTO_MISSING);
  const target = await resolveSsh(spec.host, overrides);
  const transport = new SshTransport(target, {
    acceptNewHostKey: spec.acceptNewHostKey ?? false,
    log,
    resolveHop: (hop) => resolveSsh(hop, spec.sshConfig ? { configFile: spec.sshConfig } : {}),
  });
  await transport.connect();
  return transport;
}

async function defaultPath(transport: Transport, spec: DestinationSpec, log: (line: string) => void): Promise<string> {
  if (!spec.host && !spec.rsh) throw usageError('no destination: pass --remote-path DIR (and --host HOST to push over SSH)');
  const found = await findDefaultRemotePath(transport, spec.sudo ?? false);
  log(`using remote path ${found.path} (${found.why}); pass --remote-path to choose another`);
  return found.path;
}
