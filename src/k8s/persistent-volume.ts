import { PushError, usageError } from '../errors.js';
import type { Kubectl } from './kubectl.js';
import type { ObjectRef } from './object-ref.js';

/** A volume that is a directory on one node: what `--pvc` pushes to over SSH. */
export interface NodeLocalVolume {
  /** The PersistentVolume's name. */
  readonly volume: string;
  readonly source: 'local' | 'hostPath';
  /** The directory on the node (spec.local.path or spec.hostPath.path). */
  readonly path: string;
  /** The node from the volume's nodeAffinity on kubernetes.io/hostname; undefined when it names none. */
  readonly node: string | undefined;
}

/** A claim resolved down to its node-local volume. */
export interface ResolvedClaim extends NodeLocalVolume {
  readonly namespace: string;
  readonly claim: string;
}

/** A volume that lives elsewhere (NFS, CSI, cloud disks, ...), described for a message: `NFS (nas:/export/x)`. */
export interface RemoteVolume {
  readonly volume: string;
  readonly type: string;
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';
// Values of the kubernetes.io/hostname label (a label value) and node names (a DNS subdomain) fit this.
const NODE_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$/;

// spec keys of a PersistentVolume that are not its volume source.
const NOT_A_SOURCE = new Set([
  'accessModes', 'capacity', 'claimRef', 'mountOptions', 'nodeAffinity', 'persistentVolumeReclaimPolicy',
  'storageClassName', 'volumeMode', 'volumeAttributesClassName',
]);

const SOURCE_NAMES: Record<string, string> = {
  nfs: 'NFS', csi: 'CSI', iscsi: 'iSCSI', cephfs: 'CephFS', rbd: 'Ceph RBD', glusterfs: 'GlusterFS',
  awsElasticBlockStore: 'AWS EBS', gcePersistentDisk: 'GCE persistent disk', azureDisk: 'Azure Disk',
  azureFile: 'Azure File', fc: 'Fibre Channel', flexVolume: 'FlexVolume', cinder: 'Cinder',
  vsphereVolume: 'vSphere', portworxVolume: 'Portworx', quobyte: 'Quobyte', scaleIO: 'ScaleIO',
  storageos: 'StorageOS', photonPersistentDisk: 'Photon disk', flocker: 'Flocker',
};

/** Follows `[NAMESPACE/]NAME` to the node and directory that hold the claim's files. */
export async function resolveClaim(kubectl: Kubectl, ref: ObjectRef): Promise<ResolvedClaim> {
  const namespace = ref.namespace ?? (await kubectl.currentNamespace());
  const where = `${namespace}/${ref.name}`;
  const claim = await kubectl.get(['pvc', ref.name, '-n', namespace]);
  if (!claim.found) {
    throw usageError(`PVC ${where} not found; check the name and namespace (kubectl get pvc -A lists the claims)`);
  }
  const volumeName = boundVolumeName(claim.object, where);
  const pv = await kubectl.get(['pv', volumeName]);
  if (!pv.found) throw new PushError(`PVC ${where} is bound to PV ${volumeName}, which does not exist (kubectl get pv ${volumeName})`, { side: 'remote' });
  const volume = readVolume(pv.object, volumeName);
  if ('type' in volume) {
    const pod = await podMountingClaim(kubectl, namespace, ref.name);
    throw usageError(
      `PV ${volumeName} of PVC ${where} is ${volume.type}, not a directory on a node, so --pvc cannot reach it over SSH; ` +
        `push through a pod that mounts it: --pod ${namespace}/${pod ?? 'POD (a running pod that mounts the claim read-write)'}`,
    );
  }
  return { ...volume, namespace, claim: ref.name };
}

/** The claim's `spec.volumeName` once it is Bound; otherwise an error that says why it is not and what to do. */
export function boundVolumeName(claim: unknown, where: string): string {
  const phase = text(at(claim, 'status', 'phase'));
  const volumeName = text(at(claim, 'spec', 'volumeName'));
  if (phase === 'Bound' && volumeName) return volumeName;
  if (phase === 'Pending' || (phase === 'Bound' && !volumeName)) {
    const storageClass = text(at(claim, 'spec', 'storageClassName'));
    const namespace = where.split('/')[0];
    throw new PushError(
      `PVC ${where}${storageClass ? ` (storage class ${storageClass})` : ''} is Pending, not bound to a volume yet: ` +
        'with volumeBindingMode WaitForFirstConsumer (OpenEBS hostpath, local-path) a claim binds only once a pod uses it; ' +
        `deploy the ollama-operator's store first (apply a Model in namespace ${namespace}: its StatefulSet ollama-models-store mounts the claim), then run again`,
      { side: 'remote' },
    );
  }
  if (phase === 'Lost') {
    throw new PushError(`PVC ${where} is Lost: its volume${volumeName ? ` ${volumeName}` : ''} no longer exists, so it holds no files to push to`, { side: 'remote' });
  }
  throw new PushError(`PVC ${where} is ${phase ?? 'in no phase'}, not Bound (kubectl describe pvc -n ${where.replace('/', ' ')})`, { side: 'remote' });
}

/** Reads a PersistentVolume: its node-local directory and node, or what kind of remote volume it is. */
export function readVolume(pv: unknown, volumeName: string): NodeLocalVolume | RemoteVolume {
  const spec = at(pv, 'spec');
  const local = text(at(spec, 'local', 'path'));
  const hostPath = text(at(spec, 'hostPath', 'path'));
  const path = local ?? hostPath;
  if (path === undefined) return { volume: volumeName, type: describeSource(spec) };
  if (!path.startsWith('/')) throw new PushError(`PV ${volumeName} has a path that is not absolute: ${JSON.stringify(path)}`, { side: 'remote' });
  if (text(at(spec, 'volumeMode')) === 'Block') return { volume: volumeName, type: `a raw block device (${path})` };
  const node = affinityNode(spec);
  if (node !== undefined && !NODE_NAME.test(node)) {
    throw new PushError(`PV ${volumeName} names node ${JSON.stringify(node)}, which is not a node name`, { side: 'remote' });
  }
  return { volume: volumeName, source: local !== undefined ? 'local' : 'hostPath', path, node };
}

/** The first `kubernetes.io/hostname In [node]` of the required node affinity (or `metadata.name In [node]`). */
function affinityNode(spec: unknown): string | undefined {
  for (const term of list(at(spec, 'nodeAffinity', 'required', 'nodeSelectorTerms'))) {
    const matches = [
      ...list(at(term, 'matchExpressions')).filter((e) => at(e, 'key') === HOSTNAME_LABEL),
      ...list(at(term, 'matchFields')).filter((e) => at(e, 'key') === 'metadata.name'),
    ];
    for (const match of matches) {
      const first = text(list(at(match, 'values'))[0]);
      if (at(match, 'operator') === 'In' && first) return first;
    }
  }
  return undefined;
}

function describeSource(spec: unknown): string {
  const keys = Object.keys(typeof spec === 'object' && spec !== null ? spec : {}).filter((k) => !NOT_A_SOURCE.has(k));
  const key = keys.find((k) => k in SOURCE_NAMES) ?? keys[0];
  if (key === undefined) return 'a volume with no source this tool knows';
  const source = at(spec, key);
  const name = SOURCE_NAMES[key] ?? key;
  if (key === 'nfs') return `${name} (${text(at(source, 'server')) ?? '?'}:${text(at(source, 'path')) ?? '?'})`;
  const driver = text(at(source, 'driver'));
  return driver ? `${name} (driver ${driver})` : name;
}

/** A running pod that mounts the claim read-write, to suggest for --pod; undefined when none (or pods cannot be listed). */
async function podMountingClaim(kubectl: Kubectl, namespace: string, claim: string): Promise<string | undefined> {
  const pods = await kubectl.get(['pods', '-n', namespace]).catch(() => undefined);
  if (!pods?.found) return undefined;
  const mounting = list(at(pods.object, 'items')).filter((pod) =>
    list(at(pod, 'spec', 'volumes')).some(
      (v) => at(v, 'persistentVolumeClaim', 'claimName') === claim && at(v, 'persistentVolumeClaim', 'readOnly') !== true,
    ),
  );
  const running = mounting.find((pod) => at(pod, 'status', 'phase') === 'Running') ?? mounting[0];
  return text(at(running, 'metadata', 'name'));
}

// Kubernetes JSON is read defensively: a field of the wrong type counts as absent.
function at(value: unknown, ...keys: string[]): unknown {
  let v = value;
  for (const key of keys) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
