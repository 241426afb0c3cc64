import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, lchown, lstat, mkdir, readdir, readFile, readlink, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CliResult, FIXTURE_MODELS, startCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

/**
 * The destination store is untrusted (issue 11): ollama-push runs as root and pushes into a store owned by
 * an unprivileged user, who planted links in it beforehand. Whatever was planted, a root-owned victim
 * directory outside the store stays exactly as it was, ollama-push creates no symlink in the store, and
 * the push either refuses with one line naming what it found (`refused`) or, where the plant is harmless,
 * publishes a valid store (`pushed`). Each case runs against a local destination as root, the same with
 * `--sudo --chown`, and over the real sshd (which runs as root, so the push is root on the destination).
 */

const ATTACKER = 'ollama-push-victim';
const TINY = 'registry.ollama.ai/library/tiny:latest';
const TAG_DIR = 'manifests/registry.ollama.ai/library/tiny';
/** The fixture tiny:latest: its model blob (3 MB, sent in ranges as one range) and its config (a small blob). */
const MODEL = 'a80b1352655ad6c79f883323be95c213bb5b89368e62a284dff823508f075cda';
const MODEL_SIZE = 3158073;
const CONFIG = '5e7013c3007c87e9fe1036c9774fbef57dbbed42dbfc8f5d2e3c1a2389ac315b';
/** How long a push may take before it counts as hung (a retry loop): far more than one takes, even on a loaded machine. */
const HUNG_MS = 60_000;

interface Places {
  /** The store (the --remote-path), owned by the attacker. */
  readonly store: string;
  /** The root-owned directory outside the store that must not change. */
  readonly victim: string;
}

interface Case {
  readonly name: string;
  /** Plants as root; everything planted is then given to the attacker, except the `rootOwned` paths. */
  readonly plant: (at: Places) => Promise<void>;
  readonly rootOwned?: readonly string[];
  /** refused: exit 1 with one `ollama-push: refusing to write to ...` line naming `names`; pushed: exit 0 and a valid store. */
  readonly outcome: 'refused' | 'pushed';
  /** The store path (relative) the refusal names. */
  readonly names?: string;
}

const ln = async (target: string, path: string) => {
  await mkdir(join(path, '..'), { recursive: true });
  await symlink(target, path);
};
/** Names a push could be guessed to use for its temp files: PIDs around now, several suffixes each. */
const guessableNames = () => {
  const names: string[] = [];
  for (let pid = process.pid - 200; pid < process.pid + 800; pid++) names.push(`small.${pid}.${pid.toString(16)}`, `manifest.${pid}.tmp`, `tmp.${pid}`);
  return names;
};

const CASES: Case[] = [
  {
    name: '.ollama-push a symlink to the victim dir: refused',
    plant: ({ store, victim }) => ln(victim, join(store, '.ollama-push')),
    outcome: 'refused',
    names: '.ollama-push',
  },
  {
    name: ".ollama-push the attacker's dir holding sha256-<hex>/data -> a victim file: refused (staging must be the pusher's)",
    plant: async ({ store, victim }) => {
      await ln(join(victim, 'file'), join(store, '.ollama-push', `sha256-${MODEL}`, 'data'));
      await ln(join(victim, 'file'), join(store, '.ollama-push', `sha256-${CONFIG}`, 'data'));
    },
    outcome: 'refused',
    names: '.ollama-push',
  },
  {
    name: ".ollama-push the attacker's (0777) with 3000 guessable temp names linked to victim files: refused",
    plant: async ({ store, victim }) => {
      await mkdir(join(store, '.ollama-push'), { mode: 0o777 });
      await chmod(join(store, '.ollama-push'), 0o777);
      await Promise.all(guessableNames().map((name) => symlink(join(victim, 'file'), join(store, '.ollama-push', name))));
    },
    outcome: 'refused',
    names: '.ollama-push',
  },
  {
    name: "a root-owned .ollama-push left writable by all (chmod -R 777), holding the attacker's done-marker link and temp-name links: refused",
    plant: async ({ store, victim }) => {
      await mkdir(join(store, '.ollama-push', `sha256-${MODEL}`), { recursive: true });
      await chmod(join(store, '.ollama-push'), 0o777);
      await ln(join(victim, 'file'), join(store, '.ollama-push', `sha256-${MODEL}`, `done.0-${MODEL_SIZE}`));
      await Promise.all(guessableNames().map((name) => symlink(join(victim, 'file'), join(store, '.ollama-push', name))));
    },
    rootOwned: ['.ollama-push'],
    outcome: 'refused',
    names: '.ollama-push',
  },
  {
    name: 'blobs a symlink to the victim dir: refused',
    plant: ({ store, victim }) => ln(victim, join(store, 'blobs')),
    outcome: 'refused',
    names: 'blobs',
  },
  {
    name: 'manifests a symlink to the victim dir: refused',
    plant: ({ store, victim }) => ln(victim, join(store, 'manifests')),
    outcome: 'refused',
    names: 'manifests',
  },
  {
    name: 'manifests/registry.ollama.ai/library/tiny a symlink to the victim dir: refused',
    plant: ({ store, victim }) => ln(victim, join(store, TAG_DIR)),
    outcome: 'refused',
    names: TAG_DIR,
  },
  {
    name: 'models a symlink to the victim dir (the store would look like an Ollama home): refused',
    plant: ({ store, victim }) => ln(victim, join(store, 'models')),
    outcome: 'refused',
    names: 'models',
  },
  {
    name: 'blobs/sha256-<model> a symlink to a victim file: refused',
    plant: ({ store, victim }) => ln(join(victim, 'file'), join(store, 'blobs', `sha256-${MODEL}`)),
    outcome: 'refused',
    names: `blobs/sha256-${MODEL}`,
  },
  {
    name: 'blobs/sha256-<config> (a small blob) a symlink to a victim file: refused',
    plant: ({ store, victim }) => ln(join(victim, 'file'), join(store, 'blobs', `sha256-${CONFIG}`)),
    outcome: 'refused',
    names: `blobs/sha256-${CONFIG}`,
  },
  {
    name: 'blobs/sha256-<model> a symlink to the victim dir: refused',
    plant: ({ store, victim }) => ln(victim, join(store, 'blobs', `sha256-${MODEL}`)),
    outcome: 'refused',
    names: `blobs/sha256-${MODEL}`,
  },
  {
    name: 'blobs/sha256-<model> a symlink hidden behind a file named "sha256-<model>z sha256-<model>" of its size: refused',
    plant: async ({ store, victim }) => {
      await ln(join(victim, 'file'), join(store, 'blobs', `sha256-${MODEL}`));
      await writeFile(join(store, 'blobs', `sha256-${MODEL}z sha256-${MODEL}`), Buffer.alloc(MODEL_SIZE));
    },
    outcome: 'refused',
    names: `blobs/sha256-${MODEL}`,
  },
  {
    name: 'blobs/sha256-<model> a directory: refused at once (not retried)',
    plant: async ({ store }) => {
      await mkdir(join(store, 'blobs', `sha256-${MODEL}`), { recursive: true });
    },
    outcome: 'refused',
    names: `blobs/sha256-${MODEL}`,
  },
  {
    name: 'the tag file latest a symlink to a victim file: refused',
    plant: ({ store, victim }) => ln(join(victim, 'file'), join(store, TAG_DIR, 'latest')),
    outcome: 'refused',
    names: `${TAG_DIR}/latest`,
  },
  {
    // fs.protected_hardlinks keeps a user from linking root's files, but a store may hold such links anyway.
    name: 'blobs/sha256-<config> and the tag file hard links to victim files: harmless, replaced by rename (pushed)',
    plant: async ({ store, victim }) => {
      await mkdir(join(store, 'blobs'));
      await mkdir(join(store, TAG_DIR), { recursive: true });
      await link(join(victim, 'file'), join(store, 'blobs', `sha256-${CONFIG}`));
      await link(join(victim, 'sub', 'nested'), join(store, TAG_DIR, 'latest'));
    },
    outcome: 'pushed',
  },
  {
    name: 'links to the victim at names the push does not use (another model, another blob): harmless, left alone (pushed)',
    plant: async ({ store, victim }) => {
      await ln(victim, join(store, 'manifests', 'registry.ollama.ai', 'library', 'other'));
      await ln(join(victim, 'file'), join(store, 'blobs', `sha256-${'0'.repeat(64)}`));
    },
    outcome: 'pushed',
  },
];

/** An entry's content (sha256 of a file, target of a link), mode, owner and mtime: what must not change. */
async function snapshot(root: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const visit = async (rel: string) => {
    const path = join(root, rel);
    const info = await lstat(path, { bigint: true });
    const content = info.isFile()
      ? createHash('sha256').update(await readFile(path)).digest('hex')
      : info.isSymbolicLink()
        ? `-> ${await readlink(path)}`
        : undefined;
    out[rel || '.'] = { mode: info.mode.toString(8), uid: info.uid, gid: info.gid, mtimeNs: info.mtimeNs, content };
    if (info.isDirectory()) for (const name of (await readdir(path)).sort()) await visit(rel ? `${rel}/${name}` : name);
  };
  await visit('');
  return out;
}

/** Every entry below root (not following links), relative to it. */
async function entries(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    out.push(path);
    if (entry.isDirectory()) out.push(...(await entries(root, path)));
  }
  return out;
}

/** The symlinks below root and their targets. */
async function links(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await entries(root)) {
    if ((await lstat(join(root, rel))).isSymbolicLink()) out[rel] = await readlink(join(root, rel));
  }
  return out;
}

/** Owner and mode of the store's staging: the pusher's (root's) own and private after a push. */
async function stagingMode(store: string) {
  const staging = await lstat(join(store, '.ollama-push'));
  return { uid: staging.uid, mode: (staging.mode & 0o7777).toString(8), link: staging.isSymbolicLink() };
}

/** The lines the CLI printed as its error, and no stack trace. */
function errorLines(result: CliResult): string[] {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  return result.stderr.split('\n').filter((line) => line.startsWith('ollama-push:'));
}

/** Runs the CLI, killing it if it hangs: a plant must never send it into a retry loop. */
async function runBounded(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  const run = startCli(args, env ? { env } : {});
  run.child.stdin.end();
  const timer = setTimeout(() => run.child.kill('SIGKILL'), HUNG_MS);
  const result = await run.done.finally(() => clearTimeout(timer));
  expect(result.signal, `still running after ${HUNG_MS / 1000} s: killed`).toBeNull();
  return result;
}

let attacker: { uid: number; gid: number };

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    const bar = '!'.repeat(100);
    process.stderr.write(`\n${bar}\n!!! test/security.test.ts must run as root (it pushes as root into a store of another user): FAILING\n${bar}\n\n`);
    throw new Error('test/security.test.ts must run as root: it pushes as root into a store owned by an unprivileged test user');
  }
  execFileSync('sh', ['-c', `id -u ${ATTACKER} >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin ${ATTACKER}`], { stdio: 'inherit' });
  const id = (flag: string) => Number(execFileSync('id', [flag, ATTACKER], { encoding: 'utf8' }).trim());
  attacker = { uid: id('-u'), gid: id('-g') };
});

interface Destination {
  readonly name: string;
  readonly args: (store: string) => string[];
  readonly env?: () => NodeJS.ProcessEnv;
}

let sshd: TestSshd | undefined;
const DESTINATIONS: Destination[] = [
  { name: 'local destination as root', args: (store) => ['--remote-path', store] },
  { name: 'local destination, --sudo --chown', args: (store) => ['--remote-path', store, '--sudo', '--chown', `${ATTACKER}:${ATTACKER}`] },
  ...(sshdAvailable()
    ? [{ name: 'over the real sshd as root', args: (store: string) => ['--remote-path', store, '--host', sshd!.alias], env: () => sshd!.env }]
    : []),
];

describe.each(DESTINATIONS)('a store owned by an unprivileged user, planted before the push: $name', (destination) => {
  let work: { path: string; remove: () => Promise<void> };
  let at: Places;

  beforeAll(async () => {
    if (destination.env && !sshd) sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
    sshd = undefined;
  });
  beforeEach(async () => {
    work = await tempDir('ollama-push-security-');
    // Physical paths: what the destination programs name in their messages.
    const root = await realpath(work.path);
    at = { store: join(root, 'store'), victim: join(root, 'victim') };
    await mkdir(at.store);
    await mkdir(join(at.victim, 'sub'), { recursive: true, mode: 0o700 });
    await writeFile(join(at.victim, 'file'), 'root only\n', { mode: 0o600 });
    await writeFile(join(at.victim, 'sub', 'nested'), 'also root only\n', { mode: 0o640 });
  });
  afterEach(() => work.remove());

  it.each(CASES)('$name', async (c) => {
    await c.plant(at);
    const rootOwned = new Set((c.rootOwned ?? []).map((rel) => join(at.store, rel)));
    for (const path of [at.store, ...(await entries(at.store)).map((rel) => join(at.store, rel))]) {
      if (!rootOwned.has(path)) await lchown(path, attacker.uid, attacker.gid);
    }
    const victimBefore = await snapshot(at.victim);
    const planted = await links(at.store);

    const result = await runBounded(['tiny', '--models-dir', FIXTURE_MODELS, ...destination.args(at.store)], destination.env?.());

    expect(await snapshot(at.victim), 'the victim directory changed').toEqual(victimBefore);
    expect(await links(at.store), 'ollama-push made or changed a symlink in the store').toEqual(planted);
    if (c.outcome === 'refused') {
      expect(result.code, result.stderr).toBe(1);
      const lines = errorLines(result);
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^ollama-push: refusing to write to [^:]+: /);
      expect(lines[0]).toContain(join(at.store, c.names!));
      const tag = await lstat(join(at.store, TAG_DIR, 'latest')).catch(() => undefined);
      expect(tag === undefined || tag.isSymbolicLink(), 'tiny was published').toBe(true);
    } else {
      expect(result.code, result.stderr).toBe(0);
      const report = await checkOllamaStore(at.store, { allowUnreferenced: true });
      expect(report.models).toContain(TINY);
      // The checker lists the planted links it meets as problems; nothing else may be wrong.
      const plantedPaths = Object.keys(planted);
      expect(report.problems.filter((problem) => !plantedPaths.some((path) => problem.startsWith(`${path}:`)))).toEqual([]);
      expect(await stagingMode(at.store)).toEqual({ uid: 0, mode: '700', link: false });
    }
  });

  it('a push into the empty store makes .ollama-push root-owned and mode 0700', async () => {
    await lchown(at.store, attacker.uid, attacker.gid);
    const result = await runBounded(['tiny', '--models-dir', FIXTURE_MODELS, ...destination.args(at.store)], destination.env?.());
    expect(result.code, result.stderr).toBe(0);
    expect(await checkOllamaStore(at.store)).toMatchObject({ models: [TINY], problems: [] });
    expect(await stagingMode(at.store)).toEqual({ uid: 0, mode: '700', link: false });
  });
});

describe('export -o X.tar where X.tar.partial was planted as a symlink', () => {
  let work: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    work = await tempDir('ollama-push-security-');
  });
  afterEach(() => work.remove());

  it('refuses with one line naming X.tar.partial, and the victim is unchanged', async () => {
    const victim = join(work.path, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'file'), 'root only\n', { mode: 0o600 });
    const before = await snapshot(victim);
    const archive = join(work.path, 'models.tar');
    await symlink(join(victim, 'file'), `${archive}.partial`);

    const result = await runBounded(['export', 'tiny', '--models-dir', FIXTURE_MODELS, '-o', archive]);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringContaining(`${archive}.partial`)]);
    expect(await snapshot(victim)).toEqual(before);
    expect(existsSync(archive)).toBe(false);
  });
});
