import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PushError, usageError } from '../errors.js';

/** A user and password (Basic, or traded for a token), or an OAuth2 refresh token from `docker login`. */
export type Credentials =
  | { readonly kind: 'password'; readonly username: string; readonly password: string; readonly from: string }
  | { readonly kind: 'identity-token'; readonly token: string; readonly from: string };

export const USER_ENV = 'OLLAMA_PUSH_REGISTRY_USER';
export const PASSWORD_ENV = 'OLLAMA_PUSH_REGISTRY_PASSWORD';

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HELPER_TIMEOUT_MS = 60_000;

/**
 * The credentials for a registry host: $OLLAMA_PUSH_REGISTRY_USER/_PASSWORD first (CI), then as the
 * docker CLI finds them in `$DOCKER_CONFIG/config.json` (default ~/.docker): the host's credHelpers
 * entry, else credsStore, else the `auths` entry. Undefined when there are none (anonymous).
 */
export async function findCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const user = env[USER_ENV];
  const password = env[PASSWORD_ENV];
  if (user || password) {
    if (!user || password === undefined) throw usageError(`set both ${USER_ENV} and ${PASSWORD_ENV}, or neither`);
    return { kind: 'password', username: user, password, from: `${USER_ENV}/${PASSWORD_ENV}` };
  }
  const configPath = path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
  const config = await readDockerConfig(configPath);
  if (!config) return undefined;
  const helper = config.credHelpers?.[host] ?? Object.entries(config.credHelpers ?? {}).find(([key]) => normalizeHost(key) === host)?.[1];
  if (helper) return runHelper(helper, host, `credHelpers in ${configPath}`, env);
  if (config.credsStore) {
    const stored = await runHelper(config.credsStore, host, `credsStore in ${configPath}`, env);
    if (stored) return stored;
  }
  const entry = Object.entries(config.auths ?? {}).find(([key]) => normalizeHost(key) === host)?.[1];
  if (!entry) return undefined;
  const from = `auths in ${configPath}`;
  if (entry.identitytoken) return { kind: 'identity-token', token: entry.identitytoken, from };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw usageError(`the auth entry for ${host} in ${configPath} is not base64 of user:password`);
    return { kind: 'password', username: decoded.slice(0, colon), password: decoded.slice(colon + 1), from };
  }
  if (entry.username && entry.password !== undefined) return { kind: 'password', username: entry.username, password: entry.password, from };
  return undefined;
}

/** `https://registry.lan:5000/v1/` -> `registry.lan:5000`: how docker's config keys name a host. */
export function normalizeHost(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

async function readDockerConfig(configPath: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PushError(`cannot read ${configPath}: ${(error as Error).message}`, { side: 'local', cause: error });
  }
  try {
    const json = JSON.parse(text) as unknown;
    return typeof json === 'object' && json !== null ? (json as DockerConfig) : {};
  } catch (error) {
    throw new PushError(`${configPath} is not valid JSON; fix it or set DOCKER_CONFIG to another directory`, { side: 'local', cause: error });
  }
}

/** `docker-credential-<name> get` with the host on stdin, as the docker CLI runs it. */
function runHelper(name: string, host: string, from: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  if (!HELPER_NAME.test(name)) throw usageError(`credential helper name ${JSON.stringify(name)} (${from}) is not a plain name`);
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { env, timeout: HELPER_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(new PushError(`credential helper ${program} (${from}) is not installed; install it, or set ${USER_ENV} and ${PASSWORD_ENV}`, { side: 'local' }));
        } else if (/credentials not found/i.test(`${stdout}${stderr}`)) {
          resolve(undefined);
        } else {
          const why = `${stdout}${stderr}`.trim().split('\n')[0] || error.message;
          reject(new PushError(`credential helper ${program} (${from}) failed for ${host}: ${why}`, { side: 'local', cause: error }));
        }
        return;
      }
      try {
        const { Username, Secret } = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (typeof Secret !== 'string' || Secret === '') return resolve(undefined);
        // docker-credential-helpers store an identity token under the user name "<token>".
        resolve(Username === '<token>' ? { kind: 'identity-token', token: Secret, from: program } : { kind: 'password', username: Username ?? '', password: Secret, from: program });
      } catch (parseError) {
        reject(new PushError(`credential helper ${program} (${from}) printed something other than JSON for ${host}`, { side: 'local', cause: parseError }));
      }
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(host);
  });
}
