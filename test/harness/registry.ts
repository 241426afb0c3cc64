import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Debian's docker-registry package: the CNCF distribution registry 2.8, not started as a service. */
const REGISTRY = 'docker-registry';
const START_TIMEOUT_MS = 20_000;

export interface RegistryOptions {
  /** htpasswd (bcrypt) auth with `user`/`password`; default true. */
  auth?: boolean;
  /** HTTPS with a throwaway CA (default) or plain HTTP. */
  tls?: boolean;
}

export interface TestRegistry {
  /** `https://127.0.0.1:<port>` or `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`: what `--registry` takes. */
  readonly host: string;
  readonly port: number;
  /** The throwaway CA's certificate (PEM); undefined for plain HTTP. */
  readonly caFile: string | undefined;
  /** The htpasswd user and password; undefined without auth. */
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** Where the registry keeps blobs and repositories. */
  readonly storageDir: string;
  /** The temp dir holding everything; removed by stop(). */
  readonly dir: string;
  readonly logPath: string;
  /** Stops the registry and removes dir. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a real registry on 127.0.0.1 with a port of its own choosing (it binds :0 and logs the
 * address), a temp storage dir, TLS from a throwaway CA (server cert for 127.0.0.1 and localhost in
 * its SAN) and htpasswd auth, unless told otherwise.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? true;
  const tls = options.tls ?? true;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ollama-push-registry-'));
  const storageDir = path.join(dir, 'storage');
  await mkdir(storageDir);
  const user = auth ? 'pusher' : undefined;
  const password = auth ? `pw-${Math.random().toString(36).slice(2)}` : undefined;
  const certs = tls ? await makeCertificates(dir) : undefined;
  if (auth) {
    const { stdout } = await execFileAsync('htpasswd', ['-Bbn', user!, password!]);
    await writeFile(path.join(dir, 'htpasswd'), stdout);
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    '  addr: 127.0.0.1:0',
    // Signs the upload state in Location URLs; fixed so it survives nothing but this process anyway.
    '  secret: ollama-push-test-secret',
    ...(certs ? ['  tls:', `    certificate: ${certs.certFile}`, `    key: ${certs.keyFile}`] : []),
    ...(auth ? ['auth:', '  htpasswd:', '    realm: test-registry', `    path: ${path.join(dir, 'htpasswd')}`] : []),
    '',
  ].join('\n');
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, config);
  const logPath = path.join(dir, 'registry.log');

  const child = spawn(REGISTRY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      await killAndWait(child);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const port = await waitForListening(child, logPath);
    const scheme = tls ? 'https' : 'http';
    return {
      url: `${scheme}://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      port,
      caFile: certs?.caFile,
      user,
      password,
      storageDir,
      dir,
      logPath,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Reads the registry's log (it logs to stderr) into logPath and resolves with the port it listens on. */
function waitForListening(child: ChildProcess, logPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let log = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      void writeFile(logPath, log).catch(() => {});
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (match) settle(() => resolve(Number(match[1])));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => settle(() => reject(error)));
    child.once('exit', (code) => settle(() => reject(new Error(`docker-registry exited (${code}) before listening:\n${log}`))));
    const timer = setTimeout(() => settle(() => reject(new Error(`docker-registry did not start in ${START_TIMEOUT_MS} ms:\n${log}`))), START_TIMEOUT_MS);
  });
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Certificates {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A throwaway CA and a server certificate it signs for 127.0.0.1 and localhost. */
export async function makeCertificates(dir: string, commonName = 'ollama-push test CA'): Promise<Certificates> {
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileAsync('openssl', args);
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${commonName}`,
    '-keyout', file('ca.key'), '-out', file('ca.crt'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'), '-out', file('server.csr')]);
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', file('server.ext'), '-out', file('server.crt')]);
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') };
}
