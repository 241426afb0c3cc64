// Day 2 over the other destinations: the real sshd (test/harness/sshd.ts), and Kubernetes through the
// STAND-IN kubectl (test/harness/fake-kubectl.ts: no cluster can run here). The stand-in answers
// `get models.ollama.ayaka.io -n NS -o json` with a List of ollama-operator Model objects, standing in
// for the Kubernetes API, and runs `exec` on this machine with the pod's /root/.ollama mapped to a temp
// dir; --pvc resolves the claim to a directory pushed to over the real sshd (whose alias is the node).
// Resulting stores are checked with the Ollama-rules checker.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { type FakeCluster, type FakeKubectl, installFakeKubectl } from './harness/fake-kubectl.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const TINY = 'registry.ollama.ai/library/tiny:latest';
const Q2 = 'registry.ollama.ai/library/tiny:q2';
const VISION = 'registry.ollama.ai/someone/vision:latest';
const HF = 'hf.co/org/Tiny-GGUF:Q4_K_M';
const NODE = 'homelab-1';
const PV = 'pvc-6f1c2a9e-3b1d-4c5e-9f7a-2d8e4b6c1a03';
const CLAIM = 'ollama-models-store-pvc';
const POD = 'ollama-models-store-0';

/** An Ollama home as the operator's store leaves it on its volume: a key and models/. */
function ollamaHome(path: string): string {
  mkdirSync(join(path, 'models', 'blobs'), { recursive: true });
  mkdirSync(join(path, 'models', 'manifests'));
  writeFileSync(join(path, 'id_ed25519'), '(not a key)\n', { mode: 0o600 });
  return path;
}

/** An ollama-operator Model as `kubectl get models.ollama.ayaka.io -o json` lists it. */
const model = (namespace: string, name: string, image: string) => ({
  apiVersion: 'ollama.ayaka.io/v1',
  kind: 'Model',
  metadata: { name, namespace, generation: 1, uid: `0d9a3c51-${name}` },
  spec: { image, imagePullPolicy: 'IfNotPresent' },
  status: { conditions: [{ type: 'Available', status: 'True' }] },
});

function cluster(volumeDir: string, podHome: string, models: Record<string, object[]>): FakeCluster {
  return {
    namespace: 'default',
    pvcs: {
      [`default/${CLAIM}`]: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: CLAIM, namespace: 'default' },
        spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'openebs-hostpath', volumeName: PV },
        status: { phase: 'Bound' },
      },
    },
    pvs: {
      [PV]: {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: PV },
        spec: {
          claimRef: { kind: 'PersistentVolumeClaim', name: CLAIM, namespace: 'default' },
          local: { path: volumeDir },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE] }] }] } },
          storageClassName: 'openebs-hostpath',
        },
        status: { phase: 'Bound' },
      },
    },
    pods: {
      [`llm/${POD}`]: {
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: POD, namespace: 'llm' },
          spec: { containers: [{ name: 'server', image: 'ollama/ollama' }], volumes: [{ name: 'image-storage', persistentVolumeClaim: { claimName: CLAIM } }] },
          status: { phase: 'Running' },
        },
        mounts: { '/root/.ollama': podHome },
      },
    },
    models,
  };
}

describe('Day 2 through kubectl exec (--pod) and --from-cluster', () => {
  let work: { path: string; remove: () => Promise<void> };
  let kubectl: FakeKubectl;
  let local: string;
  let podHome: string;
  const declared = {
    llm: [model('llm', 'tiny', 'tiny'), model('llm', 'tiny-q2', 'tiny:q2'), model('llm', 'gguf', 'hf.co/org/Tiny-GGUF:Q4_K_M')],
    default: [model('default', 'vision', 'someone/vision')],
  };
  const cli = (args: string[]) => runCli([...args, '--models-dir', local, '--pod', `llm/${POD}`], { env: kubectl.env() });
  const store = () => checkOllamaStore(join(podHome, 'models'));

  beforeEach(async () => {
    work = await tempDir('ollama-push-day2-k8s-');
    local = await copyFixtureStore(work.path);
    podHome = ollamaHome(join(work.path, 'pod-root-.ollama'));
    mkdirSync(join(work.path, 'bin'));
    kubectl = await installFakeKubectl(join(work.path, 'bin'), cluster(join(work.path, 'unused'), podHome, declared));
  });
  afterEach(() => work.remove());

  it('sync --from-cluster pushes exactly the images the namespace declares; --delete removes the rest', async () => {
    expect(await cli(['push', 'someone/vision', '-q'])).toMatchObject({ code: 0 });
    const dry = await cli(['sync', '--from-cluster', '--delete', '--dry-run', '--exit-code']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stdout).toMatch(/^would remove someone\/vision:latest$/m);
    const result = await cli(['sync', '--from-cluster', '--delete']);
    expect(result.code, result.stderr).toBe(0);
    expect(await store()).toEqual({ models: [HF, TINY, Q2], blobs: expect.any(Array), problems: [] });
    const calls = await kubectl.calls();
    expect(calls).toContainEqual(['get', 'models.ollama.ayaka.io', '-n', 'llm', '-o', 'json']);
    expect(await cli(['sync', '--from-cluster', '--delete', '--dry-run', '--exit-code'])).toMatchObject({ code: 0 });
  });

  it('a declared model missing locally stops everything before anything is sent: exit 2, naming it', async () => {
    await kubectl.setCluster(cluster(join(work.path, 'unused'), podHome, { llm: [...declared.llm, model('llm', 'qwen', 'qwen3:4b')] }));
    const result = await cli(['sync', '--from-cluster']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ollama-push: not in the local store .*: qwen3:4b \(Model llm\/qwen\); pull it first \(ollama pull qwen3:4b\); nothing was sent$/m);
    expect(await store()).toEqual({ models: [], blobs: [], problems: [] });
  });

  it('says so when the cluster has no Model resource (the operator is not installed)', async () => {
    await kubectl.setCluster({ ...cluster(join(work.path, 'unused'), podHome, {}), models: undefined });
    const result = await cli(['sync', '--from-cluster']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no models\.ollama\.ayaka\.io resource \(is the ollama-operator installed\?\)/);
    await kubectl.setCluster(cluster(join(work.path, 'unused'), podHome, { llm: [] }));
    const none = await cli(['sync', '--from-cluster', '--delete']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/namespace llm has no ollama-operator Model: .* would remove every model; refusing/);
    expect((await cli(['sync', 'tiny', '--from-cluster'])).stderr).toMatch(/--from-cluster takes the models from the cluster/);
  });

  it('list, rm and gc through the pod', async () => {
    expect(await cli(['push', 'tiny', 'tiny:q2', '-q'])).toMatchObject({ code: 0 });
    const listed = await cli(['list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const mine = JSON.parse((await runCli(['list', '--json', '--models-dir', local])).stdout) as { models: { name: string; id: string }[] };
    const theirs = JSON.parse(listed.stdout) as { destination: string; models: { name: string; id: string }[] };
    expect(theirs.destination).toBe('/root/.ollama/models');
    expect(theirs.models.map((m) => [m.name, m.id])).toEqual(mine.models.filter((m) => m.name.startsWith('tiny:')).map((m) => [m.name, m.id]));
    const removed = await cli(['rm', 'tiny']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/^freed 3\.2 MB in \/root\/\.ollama\/models \(3 blobs\)$/m);
    expect(await store()).toEqual({ models: [Q2], blobs: expect.any(Array), problems: [] });
    const collected = await cli(['gc']);
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stdout).toMatch(/^nothing to remove in \/root\/\.ollama\/models$/m);
  });
});

describe.runIf(sshdAvailable())('Day 2 over SSH, and --pvc --from-cluster', () => {
  let sshd: TestSshd;
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  let volume: string;
  let kubectl: FakeKubectl;
  const models = () => join(volume, 'models');
  const store = () => checkOllamaStore(models());
  const ssh = (args: string[]) => runCli([...args, '--models-dir', local, '--host', sshd.alias, '--remote-path', volume], { env: sshd.env });

  beforeAll(async () => {
    sshd = await startSshd({ alias: NODE });
  });
  afterAll(() => sshd?.stop());
  beforeEach(async () => {
    work = await tempDir('ollama-push-day2-ssh-');
    local = await copyFixtureStore(work.path);
    volume = ollamaHome(join(work.path, 'var', 'mnt', 'local-hostpath', PV));
    mkdirSync(join(work.path, 'bin'));
    kubectl = await installFakeKubectl(join(work.path, 'bin'), cluster(volume, ollamaHome(join(work.path, 'pod')), { default: [model('default', 'tiny', 'tiny:latest'), model('default', 'vision', 'someone/vision:latest')] }));
  });
  afterEach(() => work.remove());

  it('list shows the IDs of the local models; rm keeps shared blobs; gc removes old orphans; sync --delete leaves the named set', async () => {
    expect(await ssh(['push', 'tiny', 'tiny:q2', 'someone/vision', 'hf.co/org/Tiny-GGUF:Q4_K_M', '-q'])).toMatchObject({ code: 0 });
    const mine = JSON.parse((await runCli(['list', '--json', '--models-dir', local])).stdout) as { models: { name: string; id: string; size: number }[] };
    const listed = await ssh(['list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { models: { name: string; id: string; size: number }[] }).models.map(({ name, id, size }) => ({ name, id, size }))).toEqual(mine.models);

    const removed = await ssh(['rm', 'tiny']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await store()).toEqual({ models: [HF, Q2, VISION], blobs: expect.any(Array), problems: [] });

    rmSync(join(models(), 'manifests', 'hf.co'), { recursive: true });
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const blob of ['2a7668711b8970e328cd9b80afbd6f481be1e8b9a42330e26a3c76323aad5893', '3d56ddbfeb57976e095d1c17ca47b9cbf75ee20dfb067d20f0fdd1abd15ae2e7']) {
      utimesSync(join(models(), 'blobs', `sha256-${blob}`), old, old);
    }
    const collected = await ssh(['gc']);
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stdout).toMatch(/^freed 262 KB in .* \(2 blobs\)$/m);
    expect(await store()).toEqual({ models: [Q2, VISION], blobs: expect.any(Array), problems: [] });

    const synced = await ssh(['sync', 'tiny', '--delete']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(await store()).toEqual({ models: [TINY], blobs: expect.any(Array), problems: [] });
  });

  it('rm during a push of a model that shares blobs leaves a valid store, over SSH', async () => {
    for (let round = 0; round < 3; round++) {
      rmSync(models(), { recursive: true, force: true });
      mkdirSync(models());
      expect(await ssh(['push', 'tiny', '-q'])).toMatchObject({ code: 0 });
      const removing = ssh(['rm', 'tiny', '-q']);
      await new Promise((r) => setTimeout(r, round * 400));
      const pushing = ssh(['push', 'tiny:q2', '-q']);
      const [removed, pushed] = await Promise.all([removing, pushing]);
      expect(removed.code, removed.stderr).toBe(0);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect((await store()).problems, `round ${round}`).toEqual([]);
      expect((await store()).models).toEqual([Q2]);
    }
  });

  it('sync --from-cluster --pvc: the claim namespace declares the models, pushed over SSH to its node', async () => {
    expect(await ssh(['push', 'tiny:q2', '-q'])).toMatchObject({ code: 0 });
    const result = await runCli(['sync', '--from-cluster', '--delete', '--models-dir', local, '--pvc', `default/${CLAIM}`], { env: kubectl.env(sshd.env) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/resolved PVC default\/ollama-models-store-pvc: node homelab-1/);
    expect(result.stderr).toMatch(/^removed tiny:q2$/m);
    expect(await store()).toEqual({ models: [TINY, VISION], blobs: expect.any(Array), problems: [] });
    const listed = await runCli(['list', '--pvc', `default/${CLAIM}`], { env: kubectl.env(sshd.env) });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^someone\/vision:latest +84e5a898a683 /m);
  });
});
