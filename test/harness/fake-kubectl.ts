import { chmod, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * A stand-in for `kubectl`: no cluster can run here. It answers from a fixed set of objects in the
 * JSON shapes a real API server returns, with kubectl's real NotFound text and exit status, and runs
 * `kubectl exec -i ... POD -- CMD...` on this machine. A pod's `mounts` stand for its volume mounts:
 * every occurrence of a mount path in CMD is rewritten to the local dir behind it (so `/root/.ollama`
 * in the pod is a temp dir here), and so is the program text a warm shell reads from stdin first. A pod's `drop` breaks its exec streams as a real cluster can: the
 * command is killed after `afterMs` (not started when that is 0), and the stand-in exits 1 with `message` (kubectl's own error) or,
 * without one, 0 and silent, as kubectl does when the stream just ends (kubernetes/kubectl#1208). Every
 * invocation's argv is appended to calls.jsonl.
 */
export interface FakeCluster {
  /** The namespace of the current context (`config view --minify`); none when undefined. */
  namespace?: string;
  /** Other contexts (selected with --context) and their namespaces. */
  contexts?: Record<string, { namespace?: string }>;
  /** Claims by `namespace/name`. */
  pvcs?: Record<string, object>;
  /** Volumes by name. */
  pvs?: Record<string, object>;
  /** Pods by `namespace/name`. */
  pods?: Record<string, { object: object; mounts?: Record<string, string>; drop?: { afterMs: number; message?: string } }>;
  /**
   * ollama-operator `Model` objects (models.ollama.ayaka.io) by namespace, standing in for the Kubernetes
   * API's answer to `get models.ollama.ayaka.io -n NS -o json` (a List). Undefined: the cluster has no
   * such resource type (the operator's CRD is not installed), and kubectl fails as it does then.
   */
  models?: Record<string, object[]>;
}

export interface FakeKubectl {
  /** The dir holding `kubectl`; put it first on PATH. */
  readonly binDir: string;
  /** `base` with binDir first on PATH. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** The argv of every invocation so far. */
  calls(): Promise<string[][]>;
  /** Replaces the cluster's objects. */
  setCluster(cluster: FakeCluster): Promise<void>;
}

export async function installFakeKubectl(binDir: string, cluster: FakeCluster): Promise<FakeKubectl> {
  const script = join(binDir, 'kubectl');
  const state = join(binDir, 'cluster.json');
  const log = join(binDir, 'calls.jsonl');
  await writeFile(script, `#!${process.execPath}\n${FAKE_KUBECTL_SOURCE}`);
  await chmod(script, 0o755);
  await writeFile(state, JSON.stringify(cluster));
  await writeFile(log, '');
  return {
    binDir,
    env: (base = process.env) => ({ ...base, PATH: `${binDir}${delimiter}${base.PATH ?? ''}` }),
    calls: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]),
    setCluster: (next) => writeFile(state, JSON.stringify(next)),
  };
}

// CommonJS, run by this node; reads cluster.json next to itself.
const FAKE_KUBECTL_SOURCE = String.raw`
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const dir = __dirname;
const argv = process.argv.slice(2);
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify(argv) + '\n');
const cluster = JSON.parse(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8'));

const fail = (message, code = 1) => { process.stderr.write(message + '\n'); process.exit(code); };
const notFound = (resource, name) => fail('Error from server (NotFound): ' + resource + ' "' + name + '" not found');

// Flags anywhere before "--", as kubectl's parser takes them.
const dash = argv.indexOf('--');
const before = dash < 0 ? argv : argv.slice(0, dash);
const command = dash < 0 ? [] : argv.slice(dash + 1);
const flags = {};
const words = [];
const valued = new Set(['-n', '--namespace', '-o', '--output', '-c', '--container', '--context', '--kubeconfig']);
for (let i = 0; i < before.length; i++) {
  const a = before[i];
  const eq = a.startsWith('--') ? a.indexOf('=') : -1;
  if (eq > 0) flags[a.slice(0, eq)] = a.slice(eq + 1);
  else if (valued.has(a)) flags[a] = before[++i];
  else if (a.startsWith('-')) flags[a] = true;
  else words.push(a);
}
let context = { namespace: cluster.namespace };
if (flags['--context'] !== undefined) {
  context = (cluster.contexts || {})[flags['--context']];
  if (!context) fail('error: context was not found for specified context: ' + flags['--context']);
}
if (flags['--kubeconfig'] !== undefined && !fs.existsSync(flags['--kubeconfig'])) {
  fail('error: stat ' + flags['--kubeconfig'] + ': no such file or directory');
}
const namespace = flags['-n'] || flags['--namespace'] || context.namespace || 'default';
const json = (object) => { process.stdout.write(JSON.stringify(object, null, 4) + '\n'); process.exit(0); };

const [verb, ...rest] = words;
if (verb === 'config' && rest[0] === 'view') {
  // config view --minify -o jsonpath={..namespace}: the context's namespace, or nothing.
  process.stdout.write(context.namespace || '');
  process.exit(0);
}
if (verb === 'get') {
  if (flags['-o'] !== 'json') fail('stand-in kubectl: only -o json is answered');
  const [kind, name] = rest;
  if (kind === 'pvc' || kind === 'persistentvolumeclaim') {
    const found = (cluster.pvcs || {})[namespace + '/' + name];
    return found ? json(found) : notFound('persistentvolumeclaims', name);
  }
  if (kind === 'pv' || kind === 'persistentvolume') {
    const found = (cluster.pvs || {})[name];
    return found ? json(found) : notFound('persistentvolumes', name);
  }
  if ((kind === 'pod' || kind === 'pods') && name) {
    const found = (cluster.pods || {})[namespace + '/' + name];
    return found ? json(found.object) : notFound('pods', name);
  }
  if (kind === 'pods') {
    const items = Object.entries(cluster.pods || {}).filter(([key]) => key.startsWith(namespace + '/')).map(([, pod]) => pod.object);
    return json({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } });
  }
  if (kind === 'models.ollama.ayaka.io' || kind === 'models' || kind === 'model') {
    if (!cluster.models) fail('error: the server doesn\'t have a resource type "' + kind.split('.')[0] + '"');
    const items = cluster.models[namespace] || [];
    if (name) {
      const found = items.find((m) => m.metadata && m.metadata.name === name);
      return found ? json(found) : notFound('models.ollama.ayaka.io', name);
    }
    return json({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } });
  }
  fail('stand-in kubectl: cannot get ' + kind);
}
if (verb === 'exec') {
  const podName = rest[0];
  const pod = (cluster.pods || {})[namespace + '/' + podName];
  if (!pod) notFound('pods', podName);
  const containers = pod.object.spec.containers.map((c) => c.name);
  const container = flags['-c'] || flags['--container'] || containers[0];
  if (!containers.includes(container)) fail('error: unable to upgrade connection: container not found ("' + container + '")');
  if (command.length === 0) fail('error: you must specify at least one command for the container');
  // A stream broken before it starts: the command never runs.
  if (pod.drop && pod.drop.afterMs <= 0) return pod.drop.message ? fail(pod.drop.message) : process.exit(0);
  const mounts = Object.entries(pod.mounts || {});
  const mapped = command.map((arg) => mounts.reduce((a, [from, to]) => a.split(from).join(to), arg));
  // Its own process group, so that when kubectl is stopped, the command (and anything it started) ends too,
  // as it would with the exec stream gone.
  // A warm shell (src/remote/warm-shell.ts) reads its programs, paths and all, from stdin: each program's
  // text up to a go line, then either the rest of stdin (the go line alone) or as many bytes as the go
  // line says, after which the next program's text follows.
  const GO = '__OLLAMA_PUSH_GO__';
  const warm = command.some((arg) => arg.includes(GO));
  const stdinMode = flags['-i'] || flags['--stdin'] ? (warm ? 'pipe' : 'inherit') : 'ignore';
  const child = spawn(mapped[0], mapped.slice(1), { stdio: [stdinMode, 'inherit', 'inherit'], detached: true });
  if (stdinMode === 'pipe') {
    let head = Buffer.alloc(0);
    /** Bytes to pass unchanged before the next program's text; Infinity: the rest of stdin. */
    let raw = 0;
    const pass = (chunk) => {
      if (!child.stdin.write(chunk)) {
        process.stdin.pause();
        child.stdin.once('drain', () => process.stdin.resume());
      }
    };
    child.stdin.on('error', () => {});
    process.stdin.on('data', (chunk) => {
      head = Buffer.concat([head, chunk]);
      while (head.length > 0) {
        if (raw > 0) {
          const n = Math.min(raw, head.length);
          pass(head.subarray(0, n));
          head = head.subarray(n);
          raw -= n;
          continue;
        }
        const text = head.toString('latin1');
        const go = new RegExp('(^|\\n)' + GO + '( \\S+ (\\d+))?\\n').exec(text);
        if (!go) return;
        const end = go.index + go[0].length;
        pass(Buffer.from(mounts.reduce((a, [from, to]) => a.split(from).join(to), text.slice(0, end)), 'latin1'));
        head = head.subarray(end);
        raw = go[3] === undefined ? Infinity : Number(go[3]);
      }
    });
    process.stdin.on('end', () => child.stdin.end(raw > 0 ? undefined : head));
  }
  const kill = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} };
  const stop = () => { kill(); process.exit(1); };
  process.on('SIGTERM', stop).on('SIGINT', stop);
  if (pod.drop) {
    setTimeout(() => {
      kill();
      if (pod.drop.message) fail(pod.drop.message);
      process.exit(0);
    }, pod.drop.afterMs);
  }
  child.on('error', (e) => fail('error: Internal error occurred: error executing command in container: ' + e.message));
  child.on('close', (code, signal) => {
    const status = code === null ? 128 + 9 : code;
    if (status !== 0) fail('command terminated with exit code ' + status, status);
    process.exit(0);
  });
  return;
}
fail('stand-in kubectl: unsupported command: ' + argv.join(' '));
`;
