import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import SSHConfig from 'ssh-config';
import { PushError, usageError } from '../../errors.js';
import { matchesPattern } from './known-hosts.js';

export interface SshDestination {
  user?: string;
  host: string;
  port?: number;
}

export interface ResolvedSsh {
  /** What the user typed as host (before HostName). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** In order, `~` and `%` tokens expanded; existence is not checked. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** The agent's socket path; undefined for `IdentityAgent none` or no agent. */
  identityAgent: string | undefined;
  /** Hops in order, each a destination string. */
  proxyJump: string[];
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** 'ask' is the default; treating it like 'yes' when not interactive is the caller's job. */
  strictHostKeyChecking: 'yes' | 'no' | 'accept-new' | 'ask';
  connectTimeoutMs: number | undefined;
  serverAliveIntervalMs: number | undefined;
  hashKnownHosts: boolean;
  /** HostKeyAlias: the name to look the host key up under instead of HostName (and port). */
  hostKeyAlias: string | undefined;
  /**
   * HostKeyAlgorithms, as far as ssh2 implements them, in the config's order; undefined when that is
   * OpenSSH's default (DEFAULT_HOST_KEY_ALGORITHMS).
   */
  hostKeyAlgorithms?: string[];
}

/** The host key algorithms ssh2 implements (but DSA, which OpenSSH dropped), in OpenSSH's order. */
export const SSH2_HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** OpenSSH 8.8+'s default HostKeyAlgorithms as far as ssh2 implements them: all but SHA-1 `ssh-rsa`. */
export const DEFAULT_HOST_KEY_ALGORITHMS = SSH2_HOST_KEY_ALGORITHMS.filter((algorithm) => algorithm !== 'ssh-rsa');

export interface ResolveOptions {
  /** Like `ssh -F`; default `$HOME/.ssh/config`. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Like `ssh -l`: wins over the destination's user and the config. */
  user?: string;
  /** Like `ssh -p`: wins over the destination's port and the config. */
  port?: number;
  /** Like `ssh -i`: tried before the config's identity files. */
  identityFiles?: string[];
}

const HOST = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._@-]*$/;

/** Parses `[user@]host[:port]`, `[user@][host]:port` and `[user@][ipv6]`; rejects anything ssh could take as an option or a shell could misread. */
export function parseDestination(text: string): SshDestination {
  const invalid = (why: string) =>
    usageError(`invalid destination ${JSON.stringify(text)}: ${why}; expected [user@]host[:port] or [user@][ipv6-address]:port`);
  // ssh splits at the last '@', so a user name may itself contain one.
  const at = text.lastIndexOf('@');
  const user = at === -1 ? undefined : text.slice(0, at);
  const rest = text.slice(at + 1);
  let host = rest;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) throw invalid('"[" without "]"');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw invalid('only ":port" may follow "]"');
      portText = after.slice(1);
    }
  } else if (!isIPv6(rest) && rest.includes(':')) {
    host = rest.slice(0, rest.indexOf(':'));
    portText = rest.slice(rest.indexOf(':') + 1);
  }
  if (user !== undefined && !USER.test(user)) throw invalid('bad user name');
  if (!HOST.test(host) && !isIPv6(host)) throw invalid(host === '' ? 'no host' : 'bad host name');
  if (portText === undefined) return { user, host };
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) throw invalid('the port must be 1-65535');
  return { user, host, port };
}

/**
 * Resolves a destination through the user's SSH config as OpenSSH would: with `ssh -G` when an ssh
 * binary is on PATH (so Include and Match work exactly), else by parsing the config file here.
 */
export async function resolveSsh(destination: string, options: ResolveOptions = {}): Promise<ResolvedSsh> {
  const env = options.env ?? process.env;
  const query = queryFor(destination, options);
  const ssh = await findExecutable('ssh', env.PATH ?? process.env.PATH ?? '');
  if (ssh) return toResolved(await runSshG(ssh, query, options, env), query.host, env);
  const file = options.configFile ?? defaultConfigFile(env);
  const text = file === undefined ? '' : await readConfigText(file, options.configFile !== undefined);
  return resolveFromConfigText(text, destination, options);
}

/**
 * The fallback without an ssh binary: resolves from config text with the `ssh-config` package.
 * Include is not followed and `Match exec` is not run.
 */
export function resolveFromConfigText(configText: string, destination: string, options: ResolveOptions = {}): ResolvedSsh {
  const env = options.env ?? process.env;
  const query = queryFor(destination, options);
  const computed = SSHConfig.parse(configText).compute({ Host: query.host, User: query.user }, { ignoreCase: true, matchExec: false });
  const config = new Map(Object.entries(computed).map(([key, value]) => [key, typeof value === 'string' ? [value] : value]));
  const first = (key: string) => config.get(key)?.[0];

  // Fill in what `ssh -G` would print: flags first, OpenSSH's defaults, paths other than IdentityFile expanded.
  const dump = new Map(config);
  const hostName = expandTokens(first('hostname') ?? '%h', { h: query.host });
  const port = String(query.port ?? first('port') ?? 22);
  const user = first('user') ?? localUser();
  const tokens = pathTokens(query.host, hostName, port, user, env);
  const expand = (key: string, defaults: string[]) =>
    dump.set(key, (config.get(key) ?? defaults).map((path) => expandEnv(expandHome(expandTokens(path, tokens), env), env)));
  dump.set('hostname', [hostName]);
  dump.set('port', [port]);
  dump.set('user', [user]);
  const identityFiles = [...query.identityFiles, ...(config.get('identityfile') ?? [])];
  dump.set('identityfile', identityFiles.length > 0 ? identityFiles : DEFAULT_IDENTITY_FILES);
  expand('userknownhostsfile', ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']);
  expand('globalknownhostsfile', ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  if (config.has('identityagent')) expand('identityagent', []);
  return toResolved(dump, query.host, env);
}

async function readConfigText(file: string, required: boolean): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return '';
    throw new PushError(`cannot read the SSH config ${file} (${code ?? String(error)}); check the path given to --ssh-config`, { side: 'usage', cause: error });
  }
}

/** OpenSSH 9's list when no IdentityFile is configured or given. */
const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map(
  (name) => `~/.ssh/${name}`,
);

interface Query {
  host: string;
  user: string | undefined;
  port: number | undefined;
  identityFiles: string[];
}

function queryFor(destination: string, options: ResolveOptions): Query {
  const parsed = parseDestination(destination);
  return {
    host: parsed.host,
    user: options.user ?? parsed.user,
    port: options.port ?? parsed.port,
    identityFiles: options.identityFiles ?? [],
  };
}

/** Runs `ssh -G` and returns its `key value` lines, keyed in lowercase, list-valued options split. */
async function runSshG(ssh: string, query: Query, options: ResolveOptions, env: NodeJS.ProcessEnv): Promise<Map<string, string[]>> {
  const args = ['-G', '-T'];
  const home = env.HOME;
  if (options.configFile !== undefined) {
    args.push('-F', options.configFile);
  } else if (home !== undefined && home !== realHome()) {
    // ssh reads ~/.ssh/config from the passwd home, not $HOME. Without -F (when they agree) ssh also
    // reads the system-wide /etc/ssh/ssh_config, as a plain `ssh` would.
    const file = defaultConfigFile(env)!;
    args.push('-F', (await isReadable(file)) ? file : '/dev/null');
  }
  // -i drops files that do not exist (checking is the caller's job); -o IdentityFile keeps them, also first.
  for (const file of query.identityFiles) args.push('-o', `IdentityFile="${file.replace(/[\\"]/g, '\\$&')}"`);
  if (query.user !== undefined) args.push('-l', query.user);
  if (query.port !== undefined) args.push('-p', String(query.port));
  args.push('--', query.host);

  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(ssh, args, { env, timeout: 10_000 }));
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    const message = (stderr || String(error)).split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
    throw new PushError(`ssh -G could not resolve ${query.host}: ${message}; fix the SSH config it names`, { side: 'usage', cause: error });
  }
  const dump = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space).toLowerCase();
    const value = line.slice(space + 1);
    const values = key.endsWith('knownhostsfile') ? value.split(' ') : [value];
    dump.set(key, [...(dump.get(key) ?? []), ...values]);
  }
  return dump;
}

const STRICT_HOST_KEY_CHECKING: Record<string, ResolvedSsh['strictHostKeyChecking']> = {
  yes: 'yes',
  true: 'yes',
  no: 'no',
  off: 'no',
  false: 'no',
  'accept-new': 'accept-new',
  ask: 'ask',
};

/** Turns ssh -G style output into a ResolvedSsh, expanding what ssh -G leaves for the moment of use. */
function toResolved(dump: Map<string, string[]>, alias: string, env: NodeJS.ProcessEnv): ResolvedSsh {
  const first = (key: string) => dump.get(key)?.[0];
  const local = (key: string) => (dump.get(key) ?? []).filter((path) => path !== 'none').map((path) => fromRealHome(path, env));
  const hostName = first('hostname') ?? alias;
  const port = Number(first('port') ?? 22);
  const user = first('user') ?? localUser();
  const tokens = pathTokens(alias, hostName, String(port), user, env);
  const jump = first('proxyjump');
  const command = first('proxycommand');
  if (command !== undefined && command !== 'none') {
    throw usageError(`the SSH config gives ${alias} a ProxyCommand, which ollama-push's SSH client cannot run; use ProxyJump, or --rsh "ssh ${alias}" to go through OpenSSH`);
  }
  return {
    alias,
    hostName,
    port,
    user,
    identityFiles: (dump.get('identityfile') ?? []).map((path) => expandHome(expandTokens(path, tokens), env)),
    identitiesOnly: first('identitiesonly') === 'yes',
    identityAgent: agentSocket(first('identityagent'), env),
    proxyJump: jump === undefined || jump === 'none' ? [] : jump.split(','),
    userKnownHostsFiles: local('userknownhostsfile'),
    globalKnownHostsFiles: local('globalknownhostsfile'),
    strictHostKeyChecking: STRICT_HOST_KEY_CHECKING[(first('stricthostkeychecking') ?? 'ask').toLowerCase()] ?? 'ask',
    connectTimeoutMs: milliseconds(first('connecttimeout')),
    serverAliveIntervalMs: milliseconds(first('serveraliveinterval')),
    hashKnownHosts: first('hashknownhosts') === 'yes',
    hostKeyAlias: first('hostkeyalias'),
    hostKeyAlgorithms: hostKeyAlgorithms(first('hostkeyalgorithms')),
  };
}

/**
 * A HostKeyAlgorithms value as OpenSSH assembles it: `+` appends to the default list, `-` removes from
 * it, `^` puts first, anything else replaces it; each entry may be a `*`/`?` pattern. `ssh -G` prints the
 * assembled list, which this leaves as it is; the fallback parser gives what the config says.
 */
function hostKeyAlgorithms(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const named = value
    .replace(/^[-+^]/, '')
    .split(',')
    .flatMap((pattern) => SSH2_HOST_KEY_ALGORITHMS.filter((algorithm) => matchesPattern(pattern, algorithm)));
  const algorithms = [...new Set(assembleAlgorithms(value[0], named, DEFAULT_HOST_KEY_ALGORITHMS))];
  return algorithms.join() === DEFAULT_HOST_KEY_ALGORITHMS.join() ? undefined : algorithms;
}

function assembleAlgorithms(operator: string | undefined, named: string[], defaults: string[]): string[] {
  switch (operator) {
    case '+':
      return [...defaults, ...named];
    case '-':
      return defaults.filter((algorithm) => !named.includes(algorithm));
    case '^':
      return [...named, ...defaults];
    default:
      return named;
  }
}

/** IdentityAgent `SSH_AUTH_SOCK` (the default) or `$NAME` names an environment variable holding the socket path. */
function agentSocket(value: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (value === undefined || value === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK;
  if (value === 'none') return undefined;
  if (value.startsWith('$')) return env[value.slice(1)];
  return fromRealHome(value, env);
}

/** OpenSSH time values: seconds, or units like `1m30s`; 0 and `none` mean off. */
function milliseconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^(?:[0-9]+[smhdw])*[0-9]*$/i.test(value)) return undefined;
  const unitSeconds: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let seconds = 0;
  for (const [, amount, unit] of value.matchAll(/([0-9]+)([a-zA-Z]?)/g)) seconds += Number(amount) * unitSeconds[unit!.toLowerCase()]!;
  return seconds > 0 ? seconds * 1000 : undefined;
}

function pathTokens(alias: string, hostName: string, port: string, user: string, env: NodeJS.ProcessEnv): Record<string, string> {
  return { d: env.HOME ?? realHome(), u: localUser(), h: hostName, r: user, p: port, n: alias };
}

/** The common `%` tokens; unknown ones are left as they are. */
function expandTokens(text: string, tokens: Record<string, string>): string {
  return text.replace(/%(.)/g, (whole, token: string) => (token === '%' ? '%' : tokens[token] ?? whole));
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === '~' || path.startsWith('~/')) return (env.HOME ?? realHome()) + path.slice(1);
  return path;
}

function expandEnv(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => env[name] ?? whole);
}

/** ssh -G expands `~` with the passwd home; map that to $HOME when they differ (as in tests with a temporary HOME). */
function fromRealHome(path: string, env: NodeJS.ProcessEnv): string {
  const home = env.HOME;
  const real = realHome();
  if (home === undefined || home === real) return path;
  if (path === real || path.startsWith(real + '/')) return home + path.slice(real.length);
  return path;
}

function realHome(): string {
  return userInfo().homedir;
}

function localUser(): string {
  return userInfo().username;
}

function defaultConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  return env.HOME === undefined ? undefined : join(env.HOME, '.ssh', 'config');
}

async function findExecutable(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function isReadable(path: string): Promise<boolean> {
  return access(path, constants.R_OK).then(
    () => true,
    () => false,
  );
}
