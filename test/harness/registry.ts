import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Debian's docker-registry package: the CNCF distribution registry 2.8, not started as a service. */
const REGISTRY = 'docker-registry';
const START_TIMEOUT_MS = 20_000;

export interface RegistryOptions {
  /**
   * true (default): htpasswd (bcrypt) auth with `user`/`password`. 'token': the Bearer token flow, with
   * a token server (in this process, over HTTPS) that checks the same user and password.
   */
  auth?: boolean | 'token';
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
  /** With auth 'token': every token request, as the `scope` parameters and the user it authenticated (undefined: anonymous). */
  readonly tokenRequests: { scopes: string[]; user: string | undefined }[];
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
  const certs = tls || auth === 'token' ? await makeCertificates(dir) : undefined;
  const tokenRequests: TestRegistry['tokenRequests'] = [];
  const tokens = auth === 'token' ? await startTokenServer(dir, certs!, user!, password!, tokenRequests) : undefined;
  if (auth === true) {
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
    ...(certs && tls ? ['  tls:', `    certificate: ${certs.certFile}`, `    key: ${certs.keyFile}`] : []),
    ...(auth === true ? ['auth:', '  htpasswd:', '    realm: test-registry', `    path: ${path.join(dir, 'htpasswd')}`] : []),
    ...(tokens
      ? ['auth:', '  token:', `    realm: ${tokens.realm}`, `    service: ${TOKEN_SERVICE}`, `    issuer: ${TOKEN_ISSUER}`, `    rootcertbundle: ${tokens.certFile}`]
      : []),
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
      await tokens?.close();
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
      caFile: tls ? certs?.caFile : undefined,
      tokenRequests,
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

const TOKEN_SERVICE = 'test-registry';
const TOKEN_ISSUER = 'ollama-push-test-token-issuer';

/**
 * A token server as the distribution token spec has it: GET /token?service=&scope=... with Basic
 * credentials answers {"token","expires_in"}, a JWT (ES256, its certificate in x5c) that the registry
 * checks against `rootcertbundle`. It grants what was asked to the right user, nothing to anyone else,
 * and refuses a wrong password with 401.
 */
async function startTokenServer(dir: string, certs: Certificates, user: string, password: string, requests: TestRegistry['tokenRequests']) {
  const file = (name: string) => path.join(dir, name);
  await execFileAsync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=token signer',
    '-keyout', file('token.key'), '-out', file('token.crt')]);
  const key = createPrivateKey(await readFile(file('token.key')));
  const x5c = new X509Certificate(await readFile(file('token.crt'))).raw.toString('base64');
  const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
  const server = https.createServer({ cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const scopes = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [givenUser, givenPassword] = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8').split(/:(.*)/s) : [];
    if (basic && (givenUser !== user || givenPassword !== password)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"incorrect username or password"}');
      return;
    }
    requests.push({ scopes, user: basic ? givenUser : undefined });
    const access = basic
      ? scopes.flatMap((scope) => {
          const [type, name, actions] = scope.split(':');
          return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }));
    const claims = base64url(
      JSON.stringify({ iss: TOKEN_ISSUER, sub: basic ? user : '', aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }),
    );
    const signature = base64url(sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    certFile: file('token.crt'),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
