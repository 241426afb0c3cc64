import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BlobSource, DestinationState } from '../src/destination/destination.js';
import { PushError } from '../src/errors.js';
import { parseRegistryAddress, type RegistryAddress, registryReference } from '../src/registry/registry-address.js';
import { RegistryDestination, type RegistryDestinationOptions } from '../src/registry/registry-destination.js';
import { type LocalModel, LocalStore } from '../src/store/local-store.js';
import { type Descriptor, manifestBlobs, manifestSha256 } from '../src/store/manifest.js';
import { displayName, parseModelName } from '../src/store/model-name.js';
import type { PushEvent } from '../src/transfer/events.js';
import { type BlobPlan, planBlob } from '../src/transfer/plan.js';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.js';

const FIXTURES = path.resolve('fixtures/models');
const MiB = 1024 * 1024;
const OLLAMA_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';

// ---------------------------------------------------------------------------------------------------
// Helpers: a blob source over a local store, a push driven through the Destination interface (probe,
// upload, publish manifests last: what src/transfer/push.ts does), and raw HTTP to look at the registry.

function fileSource(store: LocalStore): BlobSource {
  return {
    read(blob, range, onBytes) {
      const whole = range.start === 0 && range.end === blob.size;
      async function* generate() {
        const hash = whole ? createHash('sha256') : undefined;
        if (range.end > range.start) {
          for await (const chunk of createReadStream(store.blobPath(blob.digest), { start: range.start, end: range.end - 1 }) as AsyncIterable<Buffer>) {
            hash?.update(chunk);
            onBytes(chunk.length);
            yield chunk;
          }
        }
        if (hash && hash.digest('hex') !== blob.digest.hex) throw new PushError(`local blob sha256:${blob.digest.hex} is corrupt`, { side: 'local', digest: `sha256:${blob.digest.hex}` });
      }
      return Readable.from(generate());
    },
    hash: async () => '',
    damaged: async () => undefined,
  };
}

interface PushOutcome {
  readonly state: DestinationState;
  readonly plans: BlobPlan[];
  readonly stored: number;
  readonly events: PushEvent[];
  readonly published: string[];
}

async function pushModels(
  destination: RegistryDestination,
  store: LocalStore,
  models: readonly LocalModel[],
  options: { rangeSize?: number; jobs?: number; onStored?: (hex: string, end: number) => void } = {},
): Promise<PushOutcome> {
  const rangeSize = options.rangeSize ?? 64 * MiB;
  const blobs = new Map<string, { descriptor: Descriptor; models: string[] }>();
  for (const model of models) {
    for (const descriptor of manifestBlobs(model.manifest)) {
      const entry = blobs.get(descriptor.digest.hex) ?? { descriptor, models: [] };
      entry.models.push(displayName(model.name));
      blobs.set(descriptor.digest.hex, entry);
    }
  }
  const state = await destination.probe({ digests: [...blobs.values()].map((b) => b.descriptor.digest), manifests: models.map((m) => m.name), create: false });
  const plans = [...blobs.values()].map((b) => planBlob(b.descriptor, state.blobs.get(b.descriptor.digest.hex), b.models, rangeSize));
  const events: PushEvent[] = [];
  let stored = 0;
  const failures = await destination.upload(plans, fileSource(store), {
    onEvent: (event) => events.push(event),
    stored: (hex, range) => {
      stored += range.end - range.start;
      options.onStored?.(hex, range.end);
    },
    jobs: options.jobs ?? 4,
    rangeSize,
  });
  if (failures.size > 0) throw [...failures.values()][0];
  const published: string[] = [];
  for (const [i, model] of models.entries()) {
    if (state.manifestHashes[i] === manifestSha256(model.manifest)) continue;
    expect(await destination.publishManifest(model.name, model.manifest)).toBe('published');
    published.push(displayName(model.name));
  }
  return { state, plans, stored, events, published };
}

interface Raw {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request to the registry as a client like Ollama would make it (Basic auth, the test CA). */
function raw(registry: TestRegistry, method: string, pathname: string, headers: Record<string, string> = {}): Promise<Raw> {
  const url = new URL(pathname, registry.url);
  const auth = registry.user ? { authorization: `Basic ${Buffer.from(`${registry.user}:${registry.password}`).toString('base64')}` } : {};
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      { method, headers: { ...auth, ...headers }, ...(registry.caFile ? { ca: caPem.get(registry.caFile) } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}
const caPem = new Map<string, string>();

/** Writes a model into an Ollama store: config first, then the layers; returns its name. */
async function writeModel(modelsDir: string, name: string, layers: readonly { mediaType: string; data: Buffer }[]): Promise<string> {
  const blobsDir = path.join(modelsDir, 'blobs');
  await mkdir(blobsDir, { recursive: true });
  const descriptor = async (mediaType: string, data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(path.join(blobsDir, `sha256-${hex}`), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
  const layerDescriptors = [];
  for (const layer of layers) layerDescriptors.push(await descriptor(layer.mediaType, layer.data));
  const config = await descriptor('application/vnd.docker.container.image.v1+json', Buffer.from(JSON.stringify({ model_format: 'gguf', name })));
  const parsed = parseModelName(name);
  const file = path.join(modelsDir, 'manifests', parsed.host, parsed.namespace, parsed.model, parsed.tag);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ schemaVersion: 2, mediaType: OLLAMA_ACCEPT, config, layers: layerDescriptors }));
  return name;
}

const model = (mediaType: string, data: Buffer) => ({ mediaType: `application/vnd.ollama.image.${mediaType}`, data });

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'ollama-push-registry-test-'));
}

function expectOneLine(error: unknown, pattern: RegExp): PushError {
  expect(error).toBeInstanceOf(PushError);
  const message = (error as PushError).message;
  expect(message).toMatch(pattern);
  expect(message).not.toContain('\n');
  return error as PushError;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

// ---------------------------------------------------------------------------------------------------

describe('registry address and names', () => {
  const address = (text: string, insecure = false) => parseRegistryAddress(text, insecure);
  const pull = (a: RegistryAddress, name: string) => registryReference(a, parseModelName(name)).pullName;

  it('keeps namespace/model:tag under the host, or puts models under NAMESPACE; repositories lowercased', () => {
    expect(pull(address('registry.lan:5000'), 'qwen3:4b')).toBe('registry.lan:5000/library/qwen3:4b');
    expect(pull(address('registry.lan:5000'), 'hf.co/unsloth/Qwen3-4B-GGUF:Q4_K_M')).toBe('registry.lan:5000/unsloth/qwen3-4b-gguf:Q4_K_M');
    expect(pull(address('registry.lan:5000/models'), 'hf.co/unsloth/Qwen3-4B-GGUF:Q4_K_M')).toBe('registry.lan:5000/models/qwen3-4b-gguf:Q4_K_M');
    expect(pull(address('Registry.LAN/Team_A'), 'user/m')).toBe('registry.lan/team_a/m:latest');
    expect(registryReference(address('r.lan'), parseModelName('qwen3:4b'))).toEqual({ repository: 'library/qwen3', tag: '4b', pullName: 'r.lan/library/qwen3:4b' });
    expect(address('https://r.lan:443/').insecure).toBe(false);
    expect(address('http://r.lan:80')).toEqual({ host: 'r.lan:80', namespace: undefined, insecure: true });
    expect(address('r.lan', true).insecure).toBe(true);
  });

  it('refuses what Ollama could not pull or the OCI spec forbids, as usage errors', () => {
    for (const bad of ['', 'r.lan/a/b', 'r.lan:0', 'r.lan:99999', 'r.lan:', 'a:1:2', 'r.lan/na.me', 'r.lan/-x', 'r lan']) {
      expect(() => address(bad), bad).toThrow(expect.objectContaining({ name: 'PushError', side: 'usage' }));
    }
    expect(() => registryReference(address('r.lan'), parseModelName('_private/m:t'))).toThrow(/not a valid OCI name/);
    expect(() => registryReference(address('r.lan'), parseModelName('m__..x:t'))).toThrow(/not a valid OCI name/);
  });
});

describe('push to a registry (distribution 2.8, TLS with a private CA, htpasswd)', () => {
  let registry: TestRegistry;
  let proxy: TcpProxy;
  let work: string;
  let open: (extra?: Partial<RegistryDestinationOptions>) => Promise<RegistryDestination>;
  const opened: RegistryDestination[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    caPem.set(registry.caFile!, await readFile(registry.caFile!, 'utf8'));
    proxy = await startTcpProxy({ targetPort: registry.port });
    work = await tempDir();
    const env = { HOME: work, OLLAMA_PUSH_REGISTRY_USER: registry.user, OLLAMA_PUSH_REGISTRY_PASSWORD: registry.password, PATH: process.env.PATH };
    open = async (extra = {}) => {
      const destination = await RegistryDestination.open({
        address: parseRegistryAddress(`127.0.0.1:${proxy.port}`),
        caFile: registry.caFile,
        env,
        stateDir: path.join(work, 'state'),
        ...extra,
      });
      opened.push(destination);
      return destination;
    };
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
  });
  afterAll(async () => {
    await proxy?.close();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes the fixture models byte for byte: manifests as Ollama fetches them, every blob by digest', async () => {
    const store = new LocalStore(FIXTURES);
    const names = ['tiny:latest', 'tiny:q2', 'someone/vision', 'hf.co/org/Tiny-GGUF:Q4_K_M'];
    const models = await Promise.all(names.map((n) => store.readModel(parseModelName(n))));
    const destination = await open();
    const first = await pushModels(destination, store, models);
    expect(first.published).toEqual(['tiny:latest', 'tiny:q2', 'someone/vision:latest', 'hf.co/org/Tiny-GGUF:Q4_K_M']);
    expect(first.state).toMatchObject({ exists: true, canVerify: true, freeBytes: undefined, location: `127.0.0.1:${proxy.port}` });
    expect(destination.reference(models[3]!.name).pullName).toBe(`127.0.0.1:${proxy.port}/org/tiny-gguf:Q4_K_M`);

    for (const m of models) {
      const { repository, tag } = destination.reference(m.name);
      const answer = await raw(registry, 'GET', `/v2/${repository}/manifests/${tag}`, { accept: OLLAMA_ACCEPT });
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe(OLLAMA_ACCEPT);
      expect(answer.body.equals(await readFile(m.manifestPath))).toBe(true);
      expect(answer.headers['docker-content-digest']).toBe(`sha256:${manifestSha256(m.manifest)}`);
      for (const blob of manifestBlobs(m.manifest)) {
        const got = await raw(registry, 'GET', `/v2/${repository}/blobs/sha256:${blob.digest.hex}`);
        expect(got.status).toBe(200);
        expect(createHash('sha256').update(got.body).digest('hex')).toBe(blob.digest.hex);
      }
    }

    // The events: each blob started and done once, bytes adding up to what was stored.
    const starts = first.events.filter((e) => e.type === 'blob-start');
    const dones = first.events.filter((e) => e.type === 'blob-done');
    expect(starts.length).toBe(first.plans.filter((p) => p.status !== 'present').length);
    expect(dones.length).toBe(starts.length);
    const bytes = first.events.reduce((sum, e) => sum + (e.type === 'bytes' ? e.bytes : 0), 0);
    expect(bytes).toBe(first.stored);

    // Again: the probe finds every blob and manifest, and nothing is sent.
    const before = proxy.bytesUp;
    const again = await pushModels(await open(), store, models);
    expect(again.plans.every((p) => p.status === 'present')).toBe(true);
    expect(again.state.manifestHashes).toEqual(models.map((m) => manifestSha256(m.manifest)));
    expect(again.published).toEqual([]);
    expect(again.stored).toBe(0);
    expect(proxy.bytesUp - before).toBeLessThan(64 * 1024);
  });

  it('a second push sends only the blobs the registry lacks: shared ones are found (same repository) or mounted (another)', async () => {
    const dir = await tempDir();
    try {
      const big = randomBytes(3 * MiB);
      const template = model('template', Buffer.from('{{ .Prompt }}'));
      await writeModel(dir, 'share/base:v1', [model('model', big), template]);
      await writeModel(dir, 'share/base:v2', [model('model', big), model('adapter', randomBytes(MiB)), template]);
      await writeModel(dir, 'share/other:v1', [model('model', big), template]);
      const store = new LocalStore(dir);
      const read = (n: string) => store.readModel(parseModelName(n));

      await pushModels(await open(), store, [await read('share/base:v1')]);

      let before = proxy.bytesUp;
      const v2 = await pushModels(await open(), store, [await read('share/base:v2')]);
      const sentV2 = proxy.bytesUp - before;
      expect(v2.plans.filter((p) => p.status !== 'present').map((p) => p.descriptor.size).sort()).toEqual([expect.any(Number), MiB].sort());
      expect(sentV2).toBeGreaterThan(MiB);
      expect(sentV2).toBeLessThan(MiB + 64 * 1024);

      // Another repository: the 3 MiB blob is mounted from share/base, not sent.
      before = proxy.bytesUp;
      const other = await pushModels(await open(), store, [await read('share/other:v1')]);
      expect(proxy.bytesUp - before).toBeLessThan(64 * 1024);
      expect(other.stored).toBeLessThan(1024);
      const got = await raw(registry, 'HEAD', `/v2/share/other/blobs/sha256:${createHash('sha256').update(big).digest('hex')}`);
      expect(got.status).toBe(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a run stopped mid-blob resumes from the offset the registry reports, with the upload URL from the state file', async () => {
    const dir = await tempDir();
    try {
      const data = randomBytes(10 * MiB);
      const hex = createHash('sha256').update(data).digest('hex');
      await writeModel(dir, 'resume/big:latest', [model('model', data)]);
      const store = new LocalStore(dir);
      const models = [await store.readModel(parseModelName('resume/big'))];

      // First run: stopped (as by Ctrl-C or a kill) once the registry confirmed 4 MiB of the blob.
      const controller = new AbortController();
      const killed = await open({ signal: controller.signal });
      const stop = new Error('killed');
      const error = await failure(
        pushModels(killed, store, models, {
          rangeSize: MiB,
          jobs: 1,
          onStored: (h, end) => h === hex && end >= 4 * MiB && controller.abort(stop),
        }),
      );
      expect(error).toBe(stop);
      expect((await raw(registry, 'HEAD', `/v2/resume/big/blobs/sha256:${hex}`)).status).toBe(404);

      // Second run: the probe reports [0, 4 MiB) staged, and only the rest crosses the wire.
      const before = proxy.bytesUp;
      const resumed = await pushModels(await open(), store, models, { rangeSize: MiB, jobs: 1 });
      const plan = resumed.plans.find((p) => p.descriptor.digest.hex === hex)!;
      expect(resumed.state.blobs.get(hex)?.stagedRanges).toEqual([{ start: 0, end: 4 * MiB }]);
      expect(plan.status).toBe('partial');
      expect(resumed.events).toContainEqual(expect.objectContaining({ type: 'blob-start', resumedFrom: 4 * MiB }));
      expect(resumed.stored).toBe(6 * MiB + models[0]!.manifest.config.size);
      const sent = proxy.bytesUp - before;
      expect(sent).toBeGreaterThan(6 * MiB);
      expect(sent).toBeLessThan(6 * MiB + 128 * 1024);
      const got = await raw(registry, 'GET', `/v2/resume/big/blobs/sha256:${hex}`);
      expect(createHash('sha256').update(got.body).digest('hex')).toBe(hex);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a connection cut mid-chunk fails retryable in one line; the next attempt delivers the blob intact', async () => {
    const dir = await tempDir();
    try {
      const data = randomBytes(6 * MiB);
      const hex = createHash('sha256').update(data).digest('hex');
      await writeModel(dir, 'resume/cut:latest', [model('model', data)]);
      const store = new LocalStore(dir);
      const models = [await store.readModel(parseModelName('resume/cut'))];
      const destination = await open();
      await destination.probe({ digests: [], manifests: [], create: false });
      proxy.cutAfter(3 * MiB + 12_345);
      const error = expectOneLine(await failure(pushModels(destination, store, models, { rangeSize: 2 * MiB, jobs: 1 })), /lost the connection to registry 127\.0\.0\.1:\d+/);
      expect(error.retryable).toBe(true);
      proxy.cutAfter(undefined);

      // As push retries: probe again, upload what the plan says. Distribution 2.8 keeps the cut PATCH's
      // bytes without moving the offset in the upload URL, then refuses that upload: this one starts over.
      const retried = await pushModels(destination, store, models, { rangeSize: 2 * MiB, jobs: 1 });
      expect(retried.published).toEqual(['resume/cut:latest']);
      const got = await raw(registry, 'GET', `/v2/resume/cut/blobs/sha256:${hex}`);
      expect(createHash('sha256').update(got.body).digest('hex')).toBe(hex);
    } finally {
      proxy.cutAfter(undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--verify: a blob the registry serves with other bytes is found by hashing it; a push cannot replace it, and says so', async () => {
    const store = new LocalStore(FIXTURES);
    const vision = await store.readModel(parseModelName('someone/vision'));
    const destination = await open();
    await pushModels(destination, store, [vision]);
    const [config, modelBlob] = manifestBlobs(vision.manifest);
    expect(await destination.corruptBlobs([config!, modelBlob!], false)).toEqual(new Set());
    const data = path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256', modelBlob!.digest.hex.slice(0, 2), modelBlob!.digest.hex, 'data');
    const bytes = await readFile(data);
    bytes[1000] = bytes[1000]! ^ 0xff;
    await writeFile(data, bytes);
    try {
      expect(await destination.corruptBlobs([config!, modelBlob!], false)).toEqual(new Set([modelBlob!.digest.hex]));
      const error = expectOneLine(await failure(destination.corruptBlobs([config!, modelBlob!], true)), /serves blob sha256:[0-9a-f]{64} with bytes that do not match .*delete the blob from its storage/);
      expect(error.digest).toBe(`sha256:${modelBlob!.digest.hex}`);
    } finally {
      bytes[1000] = bytes[1000]! ^ 0xff;
      await writeFile(data, bytes);
    }
  });

  it('wrong password, no credentials, an unknown CA and an unreachable registry: one-line errors', async () => {
    const store = new LocalStore(FIXTURES);
    const tiny = [await store.readModel(parseModelName('tiny'))];
    const wrong = await open({ env: { HOME: work, OLLAMA_PUSH_REGISTRY_USER: registry.user, OLLAMA_PUSH_REGISTRY_PASSWORD: 'not-it' } });
    const refused = expectOneLine(await failure(pushModels(wrong, store, tiny)), /registry 127\.0\.0\.1:\d+ refused the credentials of pusher \(401 Unauthorized, from OLLAMA_PUSH_REGISTRY_USER/);
    expect(refused.retryable).toBe(false);

    const anonymous = await open({ env: { HOME: work } });
    expectOneLine(await failure(pushModels(anonymous, store, tiny)), /registry 127\.0\.0\.1:\d+ needs credentials .*docker login/);

    const untrusted = await open({ caFile: undefined });
    expectOneLine(await failure(pushModels(untrusted, store, tiny)), /certificate from an unknown CA \(\w+\); pass --ca-file/);

    const closed = await startTcpProxy({ targetPort: registry.port });
    const port = closed.port;
    await closed.close();
    const unreachable = await open({ address: parseRegistryAddress(`127.0.0.1:${port}`) });
    const unreached = expectOneLine(await failure(pushModels(unreachable, store, tiny)), new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    expect(unreached.retryable).toBe(false);

    const plain = await open({ address: parseRegistryAddress(`127.0.0.1:${proxy.port}`, true) });
    expectOneLine(await failure(pushModels(plain, store, tiny)), /speaks HTTPS on that port; drop --insecure/);
  });

  it('takes credentials from $DOCKER_CONFIG: an auths entry, or a credential helper', async () => {
    const store = new LocalStore(FIXTURES);
    const tiny = [await store.readModel(parseModelName('tiny'))];
    const host = `127.0.0.1:${proxy.port}`;
    const docker = path.join(work, 'docker');
    await mkdir(docker, { recursive: true });
    const auth = Buffer.from(`${registry.user}:${registry.password}`).toString('base64');
    await writeFile(path.join(docker, 'config.json'), JSON.stringify({ auths: { [`https://${host}`]: { auth } } }));
    await pushModels(await open({ env: { HOME: work, DOCKER_CONFIG: docker } }), store, tiny);

    const bin = path.join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = path.join(bin, 'docker-credential-fake');
    await writeFile(
      helper,
      `#!/bin/sh\nread -r host\n[ "$1" = get ] && [ "$host" = "${host}" ] || { echo "credentials not found in native keychain"; exit 1; }\n` +
        `printf '{"ServerURL":"%s","Username":"${registry.user}","Secret":"${registry.password}"}' "$host"\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(path.join(docker, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from('x:wrong').toString('base64') } }, credHelpers: { [host]: 'fake' } }));
    const env = { HOME: work, DOCKER_CONFIG: docker, PATH: `${bin}:${process.env.PATH}` };
    await pushModels(await open({ env }), store, tiny);
    await writeFile(path.join(docker, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
    await pushModels(await open({ env }), store, tiny);

    await writeFile(path.join(docker, 'config.json'), JSON.stringify({ credsStore: 'missing' }));
    expectOneLine(await failure(pushModels(await open({ env }), store, tiny)), /credential helper docker-credential-missing \(credsStore in .*\) is not installed/);
  });
});

describe('push to a plain-HTTP registry without auth (--insecure)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ tls: false, auth: false });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushes with --insecure, and says to pass it when it is missing', async () => {
    const work = await tempDir();
    try {
      const store = new LocalStore(FIXTURES);
      const models = [await store.readModel(parseModelName('tiny:q2'))];
      const options = { env: { HOME: work }, stateDir: path.join(work, 'state') };
      const destination = await RegistryDestination.open({ ...options, address: parseRegistryAddress(registry.host, true) });
      try {
        expect((await pushModels(destination, store, models)).published).toEqual(['tiny:q2']);
      } finally {
        await destination.close();
      }
      const answer = await raw(registry, 'GET', '/v2/library/tiny/manifests/q2', { accept: OLLAMA_ACCEPT });
      expect(answer.body.equals(await readFile(models[0]!.manifestPath))).toBe(true);

      const tls = await RegistryDestination.open({ ...options, address: parseRegistryAddress(registry.host) });
      try {
        expectOneLine(await failure(pushModels(tls, store, models)), /does not speak HTTPS on that port .*pass --insecure/);
      } finally {
        await tls.close();
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('registries that refuse', () => {
  /** A stand-in registry: answers /v2/ and blob HEADs, and refuses the manifest PUT or upload POST as told. */
  async function refusing(answer: { status: number; code: string; message: string; on: 'PUT' | 'POST' }) {
    const server = http.createServer((req, res) => {
      req.resume();
      if (req.method === answer.on) {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: answer.code, message: answer.message, detail: 'unsupported' }] }));
        return;
      }
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it("names Ollama's media types and the registry when the manifest is refused, and a refused repository name", async () => {
    const work = await tempDir();
    const store = new LocalStore(FIXTURES);
    const vision = await store.readModel(parseModelName('someone/vision'));
    const options = { env: { HOME: work }, stateDir: path.join(work, 'state') };
    const media = await refusing({ status: 400, code: 'MANIFEST_INVALID', message: 'manifest invalid', on: 'PUT' });
    const names = await refusing({ status: 400, code: 'NAME_INVALID', message: 'invalid repository name', on: 'POST' });
    try {
      const destination = await RegistryDestination.open({ ...options, address: parseRegistryAddress(`127.0.0.1:${media.port}`, true) });
      const error = expectOneLine(await failure(destination.publishManifest(vision.name, vision.manifest)), /registry 127\.0\.0\.1:\d+ refuses the manifest of someone\/vision/);
      expect(error.message).toContain('application/vnd.ollama.image.projector');
      expect(error.message).toContain('application/vnd.ollama.image.model');
      expect(error.message).toContain('MANIFEST_INVALID');
      await destination.close();

      const named = await RegistryDestination.open({ ...options, address: parseRegistryAddress(`127.0.0.1:${names.port}`, true) });
      const refused = expectOneLine(await failure(pushModels(named, store, [vision])), /registry 127\.0\.0\.1:\d+ refuses the repository name someone\/vision \(NAME_INVALID/);
      expect(refused.side).toBe('usage');
      await named.close();
    } finally {
      await media.close();
      await names.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('push to a registry with the Bearer token flow (distribution 2.8 token auth)', () => {
  let registry: TestRegistry;
  let work: string;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token' });
    caPem.set(registry.caFile!, await readFile(registry.caFile!, 'utf8'));
    work = await tempDir();
  });
  afterAll(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const open = (env: NodeJS.ProcessEnv) =>
    RegistryDestination.open({ address: parseRegistryAddress(registry.host), caFile: registry.caFile, env: { HOME: work, ...env }, stateDir: path.join(work, 'state') });

  it('gets a token for the scopes from the realm (with the mount source), pushes, and explains refusals in one line', async () => {
    const store = new LocalStore(FIXTURES);
    const read = (n: string) => store.readModel(parseModelName(n));
    const credentials = { OLLAMA_PUSH_REGISTRY_USER: registry.user, OLLAMA_PUSH_REGISTRY_PASSWORD: registry.password };
    const first = await open(credentials);
    try {
      expect((await pushModels(first, store, [await read('tiny')])).published).toEqual(['tiny:latest']);
    } finally {
      await first.close();
    }
    expect(registry.tokenRequests).toContainEqual({ scopes: ['repository:library/tiny:pull,push'], user: registry.user });

    // Another repository sharing the template: the token also covers pulling from where it is mounted.
    const second = await open(credentials);
    try {
      await pushModels(second, store, [await read('someone/vision')]);
    } finally {
      await second.close();
    }
    expect(registry.tokenRequests).toContainEqual({ scopes: ['repository:someone/vision:pull,push', 'repository:library/tiny:pull'], user: registry.user });
    const answer = await raw({ ...registry, user: undefined }, 'GET', '/v2/someone/vision/manifests/latest', { accept: OLLAMA_ACCEPT });
    expect(answer.status).toBe(401);

    const wrong = await open({ ...credentials, OLLAMA_PUSH_REGISTRY_PASSWORD: 'not-it' });
    expectOneLine(await failure(pushModels(wrong, store, [await read('tiny:q2')])), /token service https:\/\/127\.0\.0\.1:\d+ refused the credentials of pusher \(401/);
    await wrong.close();
    const anonymous = await open({});
    expectOneLine(await failure(pushModels(anonymous, store, [await read('tiny:q2')])), /registry 127\.0\.0\.1:\d+ needs credentials/);
    await anonymous.close();
  });
});
