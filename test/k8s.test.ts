// kubectl cannot run a cluster here. These tests put a STAND-IN `kubectl` first on PATH
// (test/harness/fake-kubectl.ts, a small node script): it answers `config view`, `get pvc`, `get pv`,
// `get pod(s)` with JSON in the shapes a real API server returns (an OpenEBS hostpath PV with spec.local
// and nodeAffinity, a local-path-provisioner hostPath PV, a static hostPath PV without a node, NFS and CSI
// PVs, a Pending claim), fails like kubectl (NotFound text, exit 1), and runs `exec -i ... -- CMD` on this
// machine, with a pod's mount paths (/root/.ollama) rewritten to temp dirs. So what is tested is our
// side of kubectl: the arguments we pass, how we read its answers, and the pushes that follow.
// --pvc pushes go over SSH to the real test sshd, whose alias is the node name the PV names;
// --pod pushes go through the stand-in exec; the results are checked with the Ollama-rules checker.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PushError } from '../src/errors.js';
import { KubectlExecTransport } from '../src/k8s/kubectl-exec-transport.js';
import { Kubectl } from '../src/k8s/kubectl.js';
import { parseObjectRef } from '../src/k8s/object-ref.js';
import { ConnectionLostError } from '../src/transport/transport.js';
import { boundVolumeName, readVolume } from '../src/k8s/persistent-volume.js';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { type FakeCluster, type FakeKubectl, installFakeKubectl } from './harness/fake-kubectl.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { definePushSuite } from './harness/push-suite.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const TINY = 'registry.ollama.ai/library/tiny:latest';
const NODE = 'homelab-1';
const OPENEBS_PV = 'pvc-6f1c2a9e-3b1d-4c5e-9f7a-2d8e4b6c1a03';
const STORE_CLAIM = 'ollama-models-store-pvc';
const STORE_POD = 'ollama-models-store-0';

// ---- Objects as `kubectl get -o json` prints them (trimmed of managedFields and timestamps) ----

function claim(namespace: string, name: string, volumeName: string | undefined, phase = 'Bound', storageClass = 'openebs-hostpath') {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      annotations: {
        'pv.kubernetes.io/bind-completed': 'yes',
        'volume.beta.kubernetes.io/storage-provisioner': 'openebs.io/local',
        'volume.kubernetes.io/selected-node': NODE,
      },
      finalizers: ['kubernetes.io/pvc-protection'],
      labels: { app: 'ollama-models-store' },
      name,
      namespace,
      resourceVersion: '48213',
      uid: '6f1c2a9e-3b1d-4c5e-9f7a-2d8e4b6c1a03',
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '100Gi' } },
      storageClassName: storageClass,
      volumeMode: 'Filesystem',
      ...(volumeName ? { volumeName } : {}),
    },
    status: phase === 'Bound' ? { accessModes: ['ReadWriteOnce'], capacity: { storage: '100Gi' }, phase } : { phase },
  };
}

function volume(name: string, namespace: string, claimName: string, source: object, extra: object = {}) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { finalizers: ['kubernetes.io/pv-protection'], name, resourceVersion: '48210', uid: 'b2d7c9e4-0a1f-4e57-8c36-91f0d2a4e6b8' },
    spec: {
      accessModes: ['ReadWriteOnce'],
      capacity: { storage: '100Gi' },
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: claimName, namespace, resourceVersion: '48205', uid: '6f1c2a9e' },
      persistentVolumeReclaimPolicy: 'Delete',
      volumeMode: 'Filesystem',
      ...source,
      ...extra,
    },
    status: { lastPhaseTransitionTime: '2025-05-02T09:14:03Z', phase: 'Bound' },
  };
}

const onNode = (node: string) => ({
  nodeAffinity: {
    required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] },
  },
});

/** OpenEBS Dynamic LocalPV hostpath, as the ollama-operator's store gets it on a homelab. */
const openebsVolume = (name: string, namespace: string, path: string, node: string) =>
  volume(name, namespace, STORE_CLAIM, { local: { fsType: '', path }, storageClassName: 'openebs-hostpath', ...onNode(node) });

function pod(namespace: string, name: string, claimName: string, options: { phase?: string; readOnly?: boolean; containers?: string[] } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'ollama-models-store' }, uid: '0d9a3c51-7e2b-4f86-a1c4-5b8e2f7d9c60' },
    spec: {
      containers: (options.containers ?? ['server']).map((c) => ({
        image: 'ollama/ollama',
        name: c,
        volumeMounts: [{ mountPath: '/root/.ollama', name: 'image-storage', readOnly: options.readOnly ?? false }],
      })),
      nodeName: NODE,
      volumes: [{ name: 'image-storage', persistentVolumeClaim: { claimName, ...(options.readOnly ? { readOnly: true } : {}) } }],
    },
    status: { phase: options.phase ?? 'Running', podIP: '10.42.0.17' },
  };
}

/** A dir that looks like a PVC the store has run on: Ollama's key and an (empty) models dir. */
async function ollamaHome(path: string): Promise<string> {
  await mkdir(join(path, 'models', 'blobs'), { recursive: true });
  await mkdir(join(path, 'models', 'manifests'), { recursive: true });
  await writeFile(join(path, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\n(not a key)\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
  return path;
}

interface Lab {
  work: { path: string; remove: () => Promise<void> };
  kubectl: FakeKubectl;
  local: string;
  /** The node-local dirs behind the PVs, and the pod's /root/.ollama. */
  openebsDir: string;
  hostPathDir: string;
  staticDir: string;
  podHome: string;
  kubeconfig: string;
}

async function makeLab(): Promise<Lab> {
  const work = await tempDir('ollama-push-k8s-');
  const bin = join(work.path, 'bin');
  await mkdir(bin);
  const openebsDir = await ollamaHome(join(work.path, 'var', 'mnt', 'local-hostpath', OPENEBS_PV));
  const hostPathDir = await ollamaHome(join(work.path, 'opt', 'local-path-provisioner', 'pvc-1b2c_llm_ollama-models-store-pvc'));
  const staticDir = await ollamaHome(join(work.path, 'srv', 'ollama'));
  const podHome = await ollamaHome(join(work.path, 'pod-root-.ollama'));
  const kubeconfig = join(work.path, 'kubeconfig');
  await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
  const cluster: FakeCluster = {
    namespace: undefined,
    contexts: { lab: { namespace: 'llm' } },
    pvcs: {
      [`default/${STORE_CLAIM}`]: claim('default', STORE_CLAIM, OPENEBS_PV),
      [`llm/${STORE_CLAIM}`]: claim('llm', STORE_CLAIM, 'pvc-1b2c', 'Bound', 'local-path'),
      'default/static': claim('default', 'static', 'ollama-static', 'Bound', ''),
      [`pending/${STORE_CLAIM}`]: claim('pending', STORE_CLAIM, undefined, 'Pending'),
      [`shared/${STORE_CLAIM}`]: claim('shared', STORE_CLAIM, 'pvc-0e5f', 'Bound', 'nfs-client'),
      'default/ceph': claim('default', 'ceph', 'pvc-c3f4', 'Bound', 'ceph-rbd'),
    },
    pvs: {
      [OPENEBS_PV]: openebsVolume(OPENEBS_PV, 'default', openebsDir, NODE),
      // rancher local-path-provisioner: hostPath + nodeAffinity, on a node whose name is no SSH alias.
      'pvc-1b2c': volume('pvc-1b2c', 'llm', STORE_CLAIM, {
        hostPath: { path: hostPathDir, type: 'DirectoryOrCreate' },
        storageClassName: 'local-path',
        ...onNode('k8s-worker-2'),
      }),
      // A hand-made static hostPath volume: no node affinity at all.
      'ollama-static': volume('ollama-static', 'default', 'static', { hostPath: { path: staticDir, type: '' } }),
      // nfs-subdir-external-provisioner.
      'pvc-0e5f': volume('pvc-0e5f', 'shared', STORE_CLAIM, {
        nfs: { path: '/export/shared-ollama-models-store-pvc-pvc-0e5f', server: 'nas.lan' },
        storageClassName: 'nfs-client',
      }),
      'pvc-c3f4': volume('pvc-c3f4', 'default', 'ceph', {
        csi: { driver: 'rbd.csi.ceph.com', fsType: 'ext4', volumeHandle: '0001-0009-rook-ceph-0000000000000002-4a5b' },
        storageClassName: 'ceph-rbd',
      }),
    },
    pods: {
      [`default/${STORE_POD}`]: { object: pod('default', STORE_POD, STORE_CLAIM), mounts: { '/root/.ollama': podHome } },
      'default/starting-0': { object: pod('default', 'starting-0', STORE_CLAIM, { phase: 'Pending' }) },
      'default/sidecar-0': { object: pod('default', 'sidecar-0', STORE_CLAIM, { containers: ['server', 'exporter'] }), mounts: { '/root/.ollama': podHome } },
      // The NFS store: its model pod mounts the claim read-only and comes first; the store pod is the one to suggest.
      'shared/phi-7d9f8b6c5-x2x4q': { object: pod('shared', 'phi-7d9f8b6c5-x2x4q', STORE_CLAIM, { readOnly: true }) },
      [`shared/${STORE_POD}`]: { object: pod('shared', STORE_POD, STORE_CLAIM) },
    },
  };
  const kubectl = await installFakeKubectl(bin, cluster);
  return { work, kubectl, local: await copyFixtureStore(work.path), openebsDir, hostPathDir, staticDir, podHome, kubeconfig };
}

const oneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);

describe('reading Kubernetes objects', () => {
  it.each([
    ['ollama-models-store-pvc', undefined, 'ollama-models-store-pvc'],
    ['default/ollama-models-store-pvc', 'default', 'ollama-models-store-pvc'],
    ['kube-system/data.v1', 'kube-system', 'data.v1'],
  ])('parses --pvc %s', (text, namespace, name) => {
    expect(parseObjectRef('pvc', text, 'x')).toEqual({ namespace, name });
  });

  it.each(['', 'a/b/c', 'Default/x', 'default/', '/x', '--kubeconfig=/tmp/x', 'default/-x', 'ns/x y'])('refuses --pvc %j', (text) => {
    expect(() => parseObjectRef('pvc', text, 'x')).toThrow(PushError);
  });

  it('reads an OpenEBS hostpath volume: spec.local.path and the kubernetes.io/hostname node', () => {
    expect(readVolume(openebsVolume(OPENEBS_PV, 'default', '/var/mnt/local-hostpath/x', 'homelab-1'), OPENEBS_PV)).toEqual({
      volume: OPENEBS_PV,
      source: 'local',
      path: '/var/mnt/local-hostpath/x',
      node: 'homelab-1',
    });
  });

  it('takes the node from the first term that names one, and from metadata.name fields', () => {
    const terms = [
      { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['a'] }] },
      { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['n0'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2', 'n3'] }] },
    ];
    const pv = volume('v', 'ns', 'c', { hostPath: { path: '/data' }, nodeAffinity: { required: { nodeSelectorTerms: terms } } });
    expect(readVolume(pv, 'v')).toMatchObject({ source: 'hostPath', path: '/data', node: 'n2' });
  });

  it.each([
    [{ nfs: { server: 'nas.lan', path: '/export/x' } }, 'NFS (nas.lan:/export/x)'],
    [{ csi: { driver: 'nfs.csi.k8s.io', volumeHandle: 'h' } }, 'CSI (driver nfs.csi.k8s.io)'],
    [{ iscsi: { targetPortal: '10.0.0.1:3260', iqn: 'iqn.x', lun: 0 } }, 'iSCSI'],
    [{ awsElasticBlockStore: { volumeID: 'vol-1' } }, 'AWS EBS'],
    [{ somethingNew: {} }, 'somethingNew'],
  ])('names a volume that is not on a node: %j', (source, type) => {
    expect(readVolume(volume('v', 'ns', 'c', source), 'v')).toEqual({ volume: 'v', type });
  });

  it('refuses a hostile node name and a relative path', () => {
    expect(() => readVolume(volume('v', 'ns', 'c', { local: { path: '/d' }, ...onNode('-oProxyCommand=touch /tmp/x') }), 'v')).toThrow(/not a node name/);
    expect(() => readVolume(volume('v', 'ns', 'c', { hostPath: { path: 'data' } }), 'v')).toThrow(/not absolute/);
  });

  it('follows a claim only when it is Bound', () => {
    expect(boundVolumeName(claim('ns', 'c', 'pv-1'), 'ns/c')).toBe('pv-1');
    expect(() => boundVolumeName(claim('ns', 'c', undefined, 'Pending'), 'ns/c')).toThrow(/Pending.*WaitForFirstConsumer/);
    expect(() => boundVolumeName(claim('ns', 'c', 'pv-1', 'Lost'), 'ns/c')).toThrow(/Lost: its volume pv-1/);
  });
});

describe('--pvc and --pod: what goes wrong says so in one line', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await makeLab();
  });
  afterAll(() => lab?.work.remove());
  const cli = (args: string[], env = lab.kubectl.env()) => runCli(['tiny', '--models-dir', lab.local, ...args], { env });

  it('a claim that does not exist (kubectl NotFound): exit 2', async () => {
    const result = await cli(['--pvc', 'default/ollama-store']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ollama-push: PVC default\/ollama-store not found; check the name and namespace/);
    oneLine(result.stderr);
  });

  it('a Pending claim: explains WaitForFirstConsumer and to deploy the store first; exit 1', async () => {
    const result = await cli(['--pvc', `pending/${STORE_CLAIM}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/PVC pending\/ollama-models-store-pvc \(storage class openebs-hostpath\) is Pending/);
    expect(result.stderr).toMatch(/WaitForFirstConsumer.*only once a pod uses it/);
    expect(result.stderr).toMatch(/deploy the ollama-operator's store first/);
    oneLine(result.stderr);
  });

  it('an NFS volume: names it and suggests --pod with the pod that mounts it read-write; exit 2', async () => {
    const result = await cli(['--pvc', `shared/${STORE_CLAIM}`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PV pvc-0e5f of PVC shared/ollama-models-store-pvc is NFS (nas.lan:/export/shared-ollama-models-store-pvc-pvc-0e5f), not a directory on a node');
    expect(result.stderr).toMatch(/--pod shared\/ollama-models-store-0$/m);
    oneLine(result.stderr);
  });

  it('a CSI volume: names the driver and suggests --pod', async () => {
    const result = await cli(['--pvc', 'default/ceph']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is CSI \(driver rbd\.csi\.ceph\.com\), not a directory on a node.*--pod default\/POD/);
    oneLine(result.stderr);
  });

  it('a hostPath volume that names no node: asks for --host', async () => {
    const result = await cli(['--pvc', 'default/static']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PV ollama-static of PVC default\/static \(hostPath .*\/srv\/ollama\) names no node.*pass --host/);
    oneLine(result.stderr);
  });

  it('no kubectl on PATH: exit 2', async () => {
    const empty = join(lab.work.path, 'empty-bin');
    await mkdir(empty, { recursive: true });
    for (const flag of ['--pvc', '--pod']) {
      const result = await cli([flag, 'default/x'], { ...process.env, PATH: empty });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^ollama-push: kubectl not found on PATH/);
      oneLine(result.stderr);
    }
  });

  it('a kubectl failure names the command and kubectl\'s reason: exit 1', async () => {
    const result = await cli(['--pvc', STORE_CLAIM, '--context', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('kubectl --context=nope get pvc ollama-models-store-pvc -n default -o json failed: error: context was not found for specified context: nope');
    oneLine(result.stderr);
  });

  it.each([
    [['--pvc', 'default/x', '--remote-path', '/srv'], /--pvc finds the path itself; drop --remote-path/],
    [['--pvc', 'default/x', '--pod', 'default/y'], /--pvc and --pod both name a destination/],
    [['--pvc', 'default/x', '--rsh', 'ssh h'], /--rsh and --pvc both name a destination/],
    [['--pod', 'default/x', '--host', 'h'], /--host and --pod both name a destination/],
    [['-c', 'server', '--remote-path', '/srv'], /--container chooses a container of --pod/],
    [['--pvc', 'a/b/c'], /--pvc "a\/b\/c" is not \[NAMESPACE\/\]NAME/],
    [['--pvc', ''], /--pvc needs a value/],
    [['--pod', 'default/x', '-c', 'Bad_Name'], /--container "Bad_Name" is not a container name/],
  ])('usage error: %j', async (args, message) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    oneLine(result.stderr);
  });

  it('a pod that does not exist, a missing container, a pod not Running', async () => {
    const missing = await cli(['--pod', 'default/nope-0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^ollama-push: pod default\/nope-0 not found/);
    const container = await cli(['--pod', `default/${STORE_POD}`, '-c', 'sidecar']);
    expect(container.code).toBe(2);
    expect(container.stderr).toMatch(/pod default\/ollama-models-store-0 has no container "sidecar"; it has: server/);
    const pending = await cli(['--pod', 'default/starting-0']);
    expect(pending.code).toBe(1);
    expect(pending.stderr).toMatch(/pod default\/starting-0 is Pending, not Running/);
    for (const r of [missing, container, pending]) oneLine(r.stderr);
  });
});

describe.runIf(sshdAvailable())('--pvc: the claim resolves to a node and a directory, pushed to over SSH', () => {
  let sshd: TestSshd;
  let lab: Lab;
  beforeAll(async () => {
    // The node name the OpenEBS PV names is the SSH alias, as with a homelab's ~/.ssh/config.
    sshd = await startSshd({ alias: NODE });
  });
  afterAll(() => sshd?.stop());
  beforeEach(async () => {
    lab = await makeLab();
  });
  afterEach(() => lab.work.remove());
  const cli = (args: string[]) => runCli(['tiny', '--models-dir', lab.local, ...args], { env: lab.kubectl.env(sshd.env) });

  it('finds the node and path of the store PVC (namespace from the context) and pushes into <path>/models', async () => {
    const result = await cli(['--pvc', STORE_CLAIM]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`resolved PVC default/${STORE_CLAIM}: node ${NODE}, ${lab.openebsDir}\n`);
    expect(result.stderr).toContain(`pushed tiny:latest to ${lab.openebsDir}/models on `);
    expect(await checkOllamaStore(join(lab.openebsDir, 'models'))).toMatchObject({ models: [TINY], problems: [] });

    const calls = await lab.kubectl.calls();
    expect(calls).toEqual([
      ['config', 'view', '--minify', '-o', 'jsonpath={..namespace}'],
      ['get', 'pvc', STORE_CLAIM, '-n', 'default', '-o', 'json'],
      ['get', 'pv', OPENEBS_PV, '-o', 'json'],
    ]);

    const again = await cli(['--pvc', `default/${STORE_CLAIM}`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/up to date/);
  });

  it('pushes to --host when the node name is not how SSH reaches it; --context and --kubeconfig pass through', async () => {
    const result = await cli(['--pvc', STORE_CLAIM, '--host', NODE, '--context', 'lab', '--kubeconfig', lab.kubeconfig]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`resolved PVC llm/${STORE_CLAIM}: node k8s-worker-2, ${lab.hostPathDir} (over SSH to --host ${NODE})\n`);
    expect(await checkOllamaStore(join(lab.hostPathDir, 'models'))).toMatchObject({ models: [TINY], problems: [] });
    for (const call of await lab.kubectl.calls()) {
      expect(call.slice(0, 2)).toEqual(['--context=lab', `--kubeconfig=${lab.kubeconfig}`]);
    }
  });

  it('a volume that names no node works with --host', async () => {
    const result = await cli(['--pvc', 'default/static', '--host', NODE]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`resolved PVC default/static: not named by the PV, ${lab.staticDir} (over SSH to --host ${NODE})`);
    expect(await checkOllamaStore(join(lab.staticDir, 'models'))).toMatchObject({ models: [TINY], problems: [] });
  });

  it('diff works on a --pvc destination too', async () => {
    const result = await runCli(['diff', 'tiny', '--models-dir', lab.local, '--pvc', STORE_CLAIM], { env: lab.kubectl.env(sshd.env) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`resolved PVC default/${STORE_CLAIM}`);
    expect(await checkOllamaStore(join(lab.openebsDir, 'models'))).toEqual({ models: [], blobs: [], problems: [] });
  });
});

describe('--pod: pushes through kubectl exec', () => {
  let lab: Lab;
  beforeEach(async () => {
    lab = await makeLab();
  });
  afterEach(() => lab.work.remove());
  const cli = (args: string[]) => runCli(['tiny', '--models-dir', lab.local, ...args], { env: lab.kubectl.env() });

  it('defaults to /root/.ollama in the pod and writes the store under /root/.ollama/models', async () => {
    const result = await cli(['--pod', `default/${STORE_POD}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('using remote path /root/.ollama in pod default/ollama-models-store-0');
    expect(result.stderr).toContain('pushed tiny:latest to /root/.ollama/models on pod default/ollama-models-store-0');
    expect(await checkOllamaStore(join(lab.podHome, 'models'))).toMatchObject({ models: [TINY], problems: [] });

    const execs = (await lab.kubectl.calls()).filter((c) => c[0] === 'exec');
    expect(execs.length).toBeGreaterThan(1);
    for (const call of execs) {
      expect(call.slice(0, 10)).toEqual(['exec', '-i', '-c', 'server', '-n', 'default', STORE_POD, '--', 'sh', '-c']);
      expect(call).toHaveLength(11);
    }

    const again = await cli(['--pod', `default/${STORE_POD}`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/up to date/);
  });

  it('takes the namespace from the context, -c, and an explicit --remote-path', async () => {
    await lab.kubectl.setCluster({
      namespace: 'llm',
      pods: { 'llm/sidecar-0': { object: pod('llm', 'sidecar-0', STORE_CLAIM, { containers: ['server', 'exporter'] }), mounts: { '/root/.ollama': lab.podHome } } },
    });
    const result = await cli(['--pod', 'sidecar-0', '-c', 'exporter', '--remote-path', '/root/.ollama/models']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('using remote path');
    expect(await checkOllamaStore(join(lab.podHome, 'models'))).toMatchObject({ models: [TINY], problems: [] });
    const calls = await lab.kubectl.calls();
    expect(calls[0]).toEqual(['config', 'view', '--minify', '-o', 'jsonpath={..namespace}']);
    expect(calls.filter((c) => c[0] === 'exec').every((c) => c[3] === 'exporter' && c[5] === 'llm')).toBe(true);
  });
});

describe('KubectlExecTransport', () => {
  let lab: Lab;
  let savedPath: string | undefined;
  beforeAll(async () => {
    lab = await makeLab();
    savedPath = process.env.PATH;
    process.env.PATH = lab.kubectl.env().PATH;
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await lab?.work.remove();
  });

  it('returns the command status and stderr without kubectl\'s "command terminated" line; stdin reaches the command', async () => {
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', STORE_POD);
    expect(transport.maxParallel).toBe(8);
    const result = await transport.run('cat; echo oops >&2; exit 3', { stdin: Buffer.from('hello') });
    expect(result).toEqual({ code: 3, stdout: Buffer.from('hello'), stderr: Buffer.from('oops') });
  });

  it('runs several exec streams at once', async () => {
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', STORE_POD);
    const marks = join(lab.work.path, 'marks');
    await mkdir(marks, { recursive: true });
    // Each waits until all four have started: only parallel streams get there.
    const script = (i: number) => `touch ${marks}/${i}; n=0; while [ $(ls ${marks} | wc -l) -lt 4 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done; [ $n -lt 100 ]`;
    const results = await Promise.all([0, 1, 2, 3].map((i) => transport.run(script(i))));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
  });

  it('reports a lost stream (no status) when kubectl itself fails, and ends its runs on close', async () => {
    const transport = await KubectlExecTransport.open(new Kubectl(), 'default', STORE_POD);
    const started = Date.now();
    const running = transport.run('sleep 30');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await transport.close();
    // Closed (Ctrl-C): a final error, not a lost stream that a retry could mend.
    await expect(running).rejects.toThrow(/was closed/);
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(transport.run('true')).rejects.toThrow(/was closed/);

    const other = await KubectlExecTransport.open(new Kubectl(), 'default', STORE_POD);
    await lab.kubectl.setCluster({});
    const gone = await other.run('true').catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(ConnectionLostError);
    expect(gone).toMatchObject({ side: 'transport', retryable: true, reached: true });
    expect((gone as Error).message).toMatch(/^lost the connection to pod default\/ollama-models-store-0: Error from server \(NotFound\)/);
  });
});

// Every transport passes the shared suite (as rclone's fstests): here through the stand-in exec, with
// --remote-path naming a local temp dir (the stand-in runs the commands on this machine).
describe('shared push suite through --pod', () => {
  definePushSuite('kubectl exec --pod', async () => {
    const lab = await makeLab();
    return { args: ['--pod', `default/${STORE_POD}`], env: lab.kubectl.env(), close: () => lab.work.remove() };
  });
});
