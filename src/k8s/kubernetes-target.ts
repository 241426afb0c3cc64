import { usageError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import { KubectlExecTransport } from './kubectl-exec-transport.js';
import { Kubectl } from './kubectl.js';
import { parseContainerName, parseObjectRef } from './object-ref.js';
import { resolveClaim } from './persistent-volume.js';

/** Where the ollama-operator mounts the store PVC in its pods (the image's OLLAMA home). */
export const POD_OLLAMA_HOME = '/root/.ollama';

/** The destination flags this module reads. */
export interface KubernetesFlags {
  readonly pvc?: string | undefined;
  readonly pod?: string | undefined;
  readonly container?: string | undefined;
  readonly context?: string | undefined;
  readonly kubeconfig?: string | undefined;
  readonly host?: string | undefined;
  readonly rsh?: string | undefined;
  readonly 'remote-path'?: string | undefined;
}

/** What --pvc or --pod resolved to: the SSH host and path to use, and for --pod the transport itself. */
export interface KubernetesTarget {
  readonly host: string | undefined;
  readonly remotePath: string;
  readonly transport: Transport | undefined;
}

/**
 * `--pvc [NS/]NAME`: the node and directory behind the claim (pushed to over SSH, the node name as the
 * host unless --host is given). `--pod [NS/]POD`: a kubectl exec transport into the pod. Undefined when
 * neither flag is given. Logs what it resolved.
 */
export async function resolveKubernetesTarget(flags: KubernetesFlags, log: (line: string) => void): Promise<KubernetesTarget | undefined> {
  if (flags.container !== undefined && flags.pod === undefined) throw usageError('--container chooses a container of --pod; give --pod NAMESPACE/POD');
  if (flags.pvc === undefined && flags.pod === undefined) return undefined;
  if (flags.pvc !== undefined && flags.pod !== undefined) throw usageError('--pvc and --pod both name a destination; give one of them');
  if (flags.rsh) throw usageError(`--rsh and --${flags.pvc !== undefined ? 'pvc' : 'pod'} both name a destination; give one of them`);
  const kubectl = new Kubectl({ context: flags.context, kubeconfig: flags.kubeconfig });

  if (flags.pvc !== undefined) {
    if (flags['remote-path'] !== undefined) throw usageError('--pvc finds the path itself; drop --remote-path (or drop --pvc and give --host and --remote-path)');
    const claim = await resolveClaim(kubectl, parseObjectRef('pvc', flags.pvc, 'default/ollama-models-store-pvc'));
    const where = `PVC ${claim.namespace}/${claim.claim}`;
    if (claim.node === undefined && !flags.host) {
      throw usageError(`PV ${claim.volume} of ${where} (${claim.source} ${claim.path}) names no node (no kubernetes.io/hostname node affinity); pass --host with the node that holds it`);
    }
    const node = claim.node === undefined ? 'not named by the PV' : `node ${claim.node}`;
    const via = flags.host && flags.host !== claim.node ? ` (over SSH to --host ${flags.host})` : '';
    log(`resolved ${where}: ${node}, ${claim.path}${via}`);
    return { host: flags.host || claim.node, remotePath: claim.path, transport: undefined };
  }

  if (flags.host) throw usageError('--host and --pod both name a destination; give one of them');
  const ref = parseObjectRef('pod', flags.pod!, 'default/ollama-models-store-0');
  const container = flags.container === undefined ? undefined : parseContainerName(flags.container);
  const namespace = ref.namespace ?? (await kubectl.currentNamespace());
  const transport = await KubectlExecTransport.open(kubectl, namespace, ref.name, container);
  const remotePath = flags['remote-path'] ?? POD_OLLAMA_HOME;
  if (flags['remote-path'] === undefined) {
    log(`using remote path ${POD_OLLAMA_HOME} in ${transport.label} (where ollama-operator pods mount the store); pass --remote-path to choose another`);
  }
  return { host: undefined, remotePath, transport };
}
