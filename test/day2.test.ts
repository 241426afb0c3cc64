// Day 2 over the local destination (a directory on this machine, through local sh): list, rm, gc and
// sync as a user runs them, the programs behind them alone against temp stores, and rm/gc racing a push
// of a model that shares blobs. The resulting stores are checked with the Ollama-rules checker.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { program } from '../src/remote/programs.js';
import { patternMatcher } from '../src/cli/select-models.js';
import { formatAge } from '../src/cli/store-output.js';
import { parseModelName } from '../src/store/model-name.js';
import { CLI, copyFixtureStore, FIXTURE_MODELS, REPO, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

const TINY = 'registry.ollama.ai/library/tiny:latest';
const Q2 = 'registry.ollama.ai/library/tiny:q2';
const VISION = 'registry.ollama.ai/someone/vision:latest';
const HF = 'hf.co/org/Tiny-GGUF:Q4_K_M';
const ALL = ['tiny', 'tiny:q2', 'someone/vision', 'hf.co/org/Tiny-GGUF:Q4_K_M'];

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
/** The blobs (hex) a fixture model's manifest references. */
function blobsOf(modelsDir: string, path: string): string[] {
  const manifest = JSON.parse(readFileSync(join(modelsDir, 'manifests', path), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  return [manifest.config, ...manifest.layers].map((d) => d.digest.slice(7));
}
const TINY_BLOBS = blobsOf(FIXTURE_MODELS, 'registry.ollama.ai/library/tiny/latest');
const Q2_BLOBS = blobsOf(FIXTURE_MODELS, 'registry.ollama.ai/library/tiny/q2');
const setAge = (path: string, minutes: number) => {
  const then = new Date(Date.now() - minutes * 60_000);
  utimesSync(path, then, then);
};

/** Runs one destination program alone, as the client would (lib.sh in front). */
function run(name: 'list-store' | 'prune', args: readonly string[], input = '') {
  const result = spawnSync('sh', ['-c', program(name), 'ollama-push', ...args], { input });
  return { code: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
const answers = (stdout: string) => stdout.trim().split('\n').filter((line) => !/^[0-9a-f]*$/.test(line));

describe('list-store and prune alone, against a copy of the fixture store', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: string;
  const staging = () => join(store, '.ollama-push');
  const prune = (input: string, dry = false) => run('prune', [store, 'host 2 me', '2', dry ? '1' : '0'], `${input}.\n`);

  beforeEach(async () => {
    dir = await tempDir();
    store = join(dir.path, 'models');
    cpSync(FIXTURE_MODELS, store, { recursive: true });
  });
  afterEach(() => dir.remove());

  it('list-store: every manifest byte for byte, blobs with their age, staging with its lock; links reported, never followed', () => {
    symlinkSync(join(store, 'manifests', 'registry.ollama.ai', 'library'), join(store, 'manifests', 'registry.ollama.ai', 'linked'));
    setAge(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`), 61);
    mkdirSync(join(staging(), `sha256-${'c'.repeat(64)}.lock`), { recursive: true });
    writeFileSync(join(staging(), `sha256-${'c'.repeat(64)}.lock`, 'owner'), 'host 1 other\n');
    const { code, stdout } = run('list-store', [store, '60', '2']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('layout models');
    const at = lines.findIndex((l) => l.startsWith('manifest registry.ollama.ai/library/tiny/latest '));
    expect(Buffer.from(lines[at + 1]!, 'hex')).toEqual(readFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/latest')));
    expect(lines.filter((l) => l.startsWith('manifest '))).toHaveLength(4);
    expect(lines).toContain('odd link registry.ollama.ai/linked');
    expect(lines).toContain(`blob ${TINY_BLOBS[1]} - 3158073 1`);
    expect(lines).toContain(`blob ${TINY_BLOBS[0]} - 482 0`);
    expect(lines.some((l) => l.startsWith(`staging sha256-${'c'.repeat(64)}.lock `) && l.endsWith(' 1 host 1 other'))).toBe(true);
  });

  it('prune (rm): removes the manifest and the blobs no other manifest references; a dry run touches nothing', () => {
    const before = readdirSync(join(store, 'blobs')).sort();
    const dry = prune('model registry.ollama.ai/library/tiny/latest\n', true);
    expect(dry.code, dry.stderr).toBe(0);
    expect(answers(dry.stdout)).toContain('model registry.ollama.ai/library/tiny/latest would');
    expect(readdirSync(join(store, 'blobs')).sort()).toEqual(before);
    expect(existsSync(staging())).toBe(false);

    const done = prune('model registry.ollama.ai/library/tiny/latest\n');
    expect(done.code, done.stderr).toBe(0);
    const lines = answers(done.stdout);
    expect(lines).toContain('model registry.ollama.ai/library/tiny/latest removed');
    expect(lines).toContain(`blob ${TINY_BLOBS[1]} 3158073 removed`);
    expect(lines).toContain(`blob ${TINY_BLOBS[2]} 27 used`);
    // The dry run said exactly what went.
    expect(answers(dry.stdout).map((l) => l.replace(/ would$/, ' removed'))).toEqual(lines);
    expect(readdirSync(staging())).toEqual([]);
  });

  it('prune refuses a link anywhere under manifests/ (it could lead to a manifest): exit 3, nothing removed', () => {
    symlinkSync(join(dir.path, 'elsewhere'), join(store, 'manifests', 'hf.co', 'org', 'Linked'));
    const result = prune('model registry.ollama.ai/library/tiny/latest\norphans 0\n');
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toMatch(/^unsafe destination: .*\/manifests\/hf\.co\/org\/Linked is a symbolic link/);
    expect(existsSync(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`))).toBe(true);
  });

  it('prune never removes a blob a push holds a lock on or has staged', () => {
    mkdirSync(join(staging(), `sha256-${TINY_BLOBS[1]}.lock`), { recursive: true, mode: 0o700 });
    writeFileSync(join(staging(), `sha256-${TINY_BLOBS[1]}.lock`, 'owner'), 'host 1 pusher\n');
    mkdirSync(join(staging(), `sha256-${TINY_BLOBS[0]}`));
    const lines = answers(prune('model registry.ollama.ai/library/tiny/latest\n').stdout);
    expect(lines).toContain(`blob ${TINY_BLOBS[1]} 3158073 held`);
    expect(lines).toContain(`blob ${TINY_BLOBS[0]} 482 held`);
    expect(existsSync(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`))).toBe(true);
    expect(readFileSync(join(staging(), `sha256-${TINY_BLOBS[1]}.lock`, 'owner'), 'utf8')).toBe('host 1 pusher\n');
  });

  it('prune puts a blob back when a manifest that uses it is published while it waits (a push between its check and its rename)', async () => {
    // A publish-manifest run that has checked its blobs and is about to rename its manifest into place.
    mkdirSync(staging(), { mode: 0o700 });
    const temp = join(staging(), 'manifest.Pub1isH1ng');
    writeFileSync(temp, readFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/latest')));
    const child = spawn('sh', ['-c', program('prune'), 'ollama-push', store, 'host 2 me', '2', '0']);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin.end('model registry.ollama.ai/library/tiny/latest\n.\n');
    // The blob goes aside at once; the removal waits for the manifest being published.
    for (let i = 0; i < 100 && existsSync(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`))).toBe(false);
    mkdirSync(join(store, 'manifests/registry.ollama.ai/library/copy'));
    spawnSync('mv', [temp, join(store, 'manifests/registry.ollama.ai/library/copy/latest')]);
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(answers(stdout)).toContain(`blob ${TINY_BLOBS[1]} 3158073 restored`);
    const report = await checkOllamaStore(store);
    expect(report.problems).toEqual([]);
    expect(report.models).toContain('registry.ollama.ai/library/copy:latest');
    expect(readdirSync(staging())).toEqual([]);
  });

  it('prune puts back the blobs of a removal that was killed, before anything else', async () => {
    const trash = join(staging(), 'prune.KiLLeD123');
    mkdirSync(trash, { recursive: true });
    writeFileSync(join(trash, 'owner'), 'host 9 gone\n');
    const hex = TINY_BLOBS[1]!;
    spawnSync('mv', [join(store, 'blobs', `sha256-${hex}`), join(trash, `sha256-${hex}`)]);
    mkdirSync(join(staging(), `sha256-${hex}.lock`));
    writeFileSync(join(staging(), `sha256-${hex}.lock`, 'owner'), 'host 9 gone\n');
    const result = run('prune', [store, 'host 2 me', '2', '0'], 'dead host 9 gone\norphans 60\n.\n');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`recovered ${hex}`);
    expect(readdirSync(staging())).toEqual([]);
    expect((await checkOllamaStore(store)).problems).toEqual([]);
  });

  it('prune (gc): abandoned staging and old orphans go; live locks, young orphans and referenced blobs stay', () => {
    rmSync(join(store, 'manifests/hf.co'), { recursive: true });
    const [hfConfig, hfModel] = blobsOf(FIXTURE_MODELS, 'hf.co/org/Tiny-GGUF/Q4_K_M');
    setAge(join(store, 'blobs', `sha256-${hfModel}`), 61);
    setAge(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`), 600); // referenced: stays however old
    const entry = (name: string, owner?: string, minutes = 0) => {
      mkdirSync(join(staging(), name), { recursive: true, mode: 0o700 });
      writeFileSync(join(staging(), name, 'data'), 'x'.repeat(5000));
      if (owner === undefined) return;
      mkdirSync(join(staging(), `${name}.lock`));
      writeFileSync(join(staging(), `${name}.lock`, 'owner'), `${owner}\n`);
      setAge(join(staging(), `${name}.lock`), minutes);
    };
    entry(`sha256-${'a'.repeat(64)}`); // no lock: abandoned
    entry(`sha256-${'b'.repeat(64)}`, 'host 1 live'); // heartbeat now: a push is writing it
    entry(`sha256-${'c'.repeat(64)}`, 'host 1 stale', 5); // no heartbeat for 5 minutes
    entry(`sha256-${'d'.repeat(64)}`, 'host 1 dead'); // a run the client found gone
    writeFileSync(join(staging(), 'manifest.0ld0ld0ld0'), '{}');
    setAge(join(staging(), 'manifest.0ld0ld0ld0'), 2 * 1440);
    const input = 'dead host 1 dead\norphans 60\nstaging\n';
    const dry = prune(input, true);
    const done = prune(input);
    expect(done.code, done.stderr).toBe(0);
    const lines = answers(done.stdout);
    expect(answers(dry.stdout).map((l) => l.replace(/ would$/, ' removed'))).toEqual(lines);
    for (const c of ['a', 'c', 'd']) expect(lines.some((l) => l.startsWith(`staging sha256-${c.repeat(64)} `) && l.endsWith(' removed'))).toBe(true);
    expect(lines.some((l) => l.startsWith(`staging sha256-${'b'.repeat(64)} `) && l.endsWith(' live'))).toBe(true);
    expect(lines).toContain('staging manifest.0ld0ld0ld0 4 removed');
    expect(lines).toContain(`blob ${hfModel} 262144 removed`);
    expect(lines).toContain(`blob ${hfConfig} 334 young`);
    expect(readdirSync(staging()).sort()).toEqual([`sha256-${'b'.repeat(64)}`, `sha256-${'b'.repeat(64)}.lock`]);
    expect(existsSync(join(store, 'blobs', `sha256-${TINY_BLOBS[1]}`))).toBe(true);
  });
});

describe('shell-style patterns and ages', () => {
  it.each([
    ['qwen3:*', 'qwen3:4b', true],
    ['qwen3:*', 'qwen3-coder:4b', false],
    ['QWEN3:4?', 'qwen3:4b', true],
    ['hf.co/*', 'hf.co/org/Repo-GGUF:Q4_K_M', true],
    ['*/library/tiny:*', 'tiny:q2', true],
    ['tiny:q[0-9]', 'tiny:q2', true],
    ['tiny:q[!0-9]', 'tiny:q2', false],
    ['tiny.*', 'tiny:latest', false],
  ])('%s matches %s: %s', (pattern, name, matches) => {
    expect(patternMatcher(pattern)(parseModelName(name))).toBe(matches);
  });

  it.each([
    [5, '5 seconds ago'],
    [90, 'About a minute ago'],
    [600, '10 minutes ago'],
    [3600, 'About an hour ago'],
    [3 * 86400, '3 days ago'],
    [21 * 86400, '3 weeks ago'],
  ])('%i seconds old is %s', (seconds, text) => {
    expect(formatAge(new Date(1_000_000_000_000 - seconds * 1000), 1_000_000_000_000)).toBe(text);
  });
});

describe('list, rm, gc and sync over a local destination', () => {
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  let remote: string;
  let models: string;
  const cli = (args: string[], env?: NodeJS.ProcessEnv) => runCli([...args, '--models-dir', local, '--remote-path', remote], env ? { env } : {});
  const push = async (...names: string[]) => {
    const result = await cli(['push', ...names, '--mkdir', '-q']);
    expect(result.code, result.stderr).toBe(0);
  };
  const store = () => checkOllamaStore(models);

  beforeEach(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
    // A PVC dir, as the operator leaves it: an Ollama home holding models/.
    remote = join(work.path, 'pvc-6f1c2a9e');
    models = join(remote, 'models');
    mkdirSync(join(models, 'blobs'), { recursive: true });
    mkdirSync(join(models, 'manifests'));
  });
  afterEach(() => work.remove());

  it('list shows what was pushed, with the IDs and sizes ollama list shows locally', async () => {
    await push(...ALL);
    const mine = JSON.parse((await runCli(['list', '--json', '--models-dir', local])).stdout) as { models: { name: string; id: string; size: number }[] };
    const result = await cli(['list', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const listed = JSON.parse(result.stdout) as { destination: string; models: { name: string; id: string; size: number; modified: string }[]; stagedBytes: number; unreferencedBlobs: unknown[] };
    expect(listed.destination).toBe(models);
    expect(listed.models.map(({ name, id, size }) => ({ name, id, size }))).toEqual(mine.models);
    for (const m of listed.models) expect(Date.now() - Date.parse(m.modified)).toBeLessThan(10 * 60_000);
    expect(listed.unreferencedBlobs).toEqual([]);
    expect(listed.stagedBytes).toBe(0);

    const table = await cli(['list']);
    expect(table.stdout).toMatch(/^NAME +ID +SIZE +MODIFIED$/m);
    expect(table.stdout).toMatch(/^tiny:latest +a4ecbb9aea58 +3\.2 MB +(\d+ seconds?|About a minute) ago$/m);
    expect(table.stdout).not.toMatch(/unreferenced|staged/);
  });

  it('list tells unreferenced blobs and staged bytes in a footer and in --json', async () => {
    await push('tiny');
    rmSync(join(models, 'manifests/registry.ollama.ai/library/tiny/latest'));
    setAge(join(models, 'blobs', `sha256-${TINY_BLOBS[1]}`), 90);
    mkdirSync(join(models, '.ollama-push', `sha256-${'e'.repeat(64)}`), { recursive: true });
    writeFileSync(join(models, '.ollama-push', `sha256-${'e'.repeat(64)}`, 'data'), Buffer.alloc(64 * 1024, 1));
    const table = await cli(['list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^unreferenced: 5 blobs no model uses, 3\.2 MB \(1 older than an hour: ollama-push gc removes it\)$/m);
    expect(table.stdout).toMatch(/^staged: \d+(\.\d)? KB of unfinished uploads in .*\/models\/\.ollama-push/m);
    const json = JSON.parse((await cli(['list', '--json'])).stdout) as { unreferencedBlobs: { digest: string; olderThanGracePeriod: boolean }[]; unreferencedBytes: number; stagedBytes: number };
    expect(json.unreferencedBlobs).toHaveLength(5);
    expect(json.unreferencedBlobs.find((b) => b.olderThanGracePeriod)?.digest).toBe(`sha256:${TINY_BLOBS[1]}`);
    expect(json.unreferencedBytes).toBe(3158662);
    expect(json.stagedBytes).toBeGreaterThanOrEqual(64 * 1024);
  });

  it('OLLAMA_PUSH_REMOTE_PATH alone does not turn list away from the local store', async () => {
    await push('tiny');
    const result = await runCli(['list', '--models-dir', local], { env: { ...process.env, OLLAMA_PUSH_REMOTE_PATH: remote } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^tiny:q2 /m);
  });

  it('rm removes the model and the blobs only it used, keeping those other models share', async () => {
    await push('tiny', 'tiny:q2', 'someone/vision');
    const dry = await cli(['rm', 'tiny', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would remove tiny:latest$/m);
    expect(dry.stdout).toMatch(new RegExp(`^would remove blob sha256:${TINY_BLOBS[1]} \\(3\\.2 MB\\)$`, 'm'));
    expect(dry.stdout).toMatch(/^kept 3 blobs that other models use$/m);
    expect(dry.stdout).toMatch(/^would free 3\.2 MB in .*models \(2 blobs\)$/m);
    expect((await store()).models).toEqual([TINY, Q2, VISION]);

    const result = await cli(['rm', 'tiny', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout) as { models: { name: string; status: string }[]; bytesFreed: number; blobs: { digest: string; status: string }[] };
    expect(doc.models).toEqual([{ name: 'tiny:latest', status: 'removed' }]);
    expect(doc.bytesFreed).toBe(3158073 + 482);
    // The checker fails on any unreferenced blob: rm leaves none, and every blob q2 and vision use is there.
    expect(await store()).toEqual({ models: [Q2, VISION], blobs: expect.any(Array), problems: [] });
    expect((await store()).blobs).toEqual(expect.arrayContaining(Q2_BLOBS));
    expect(readdirSync(join(models, 'manifests/registry.ollama.ai/library'))).toEqual(['tiny']);

    // The last tag of a model: its directories go too, as with ollama rm.
    expect(await cli(['rm', 'tiny:q2', 'someone/vision:latest', '-q'])).toMatchObject({ code: 0 });
    expect(await store()).toEqual({ models: [], blobs: [], problems: [] });
    expect(readdirSync(join(models, 'manifests'))).toEqual([]);
  });

  it('rm of a name that is not there: exit 2 with a suggestion, nothing removed', async () => {
    await push('tiny', 'tiny:q2');
    const result = await cli(['rm', 'tiny:q3']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ollama-push: model tiny:q3 is not in .*models on this machine; did you mean tiny:q2/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    const none = await cli(['rm', 'qwen3:*']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no model in .* matches "qwen3:\*"/);
    expect((await store()).models).toEqual([TINY, Q2]);
  });

  it('rm takes shell-style patterns and names in any case, as Ollama matches them', async () => {
    await push(...ALL);
    const result = await cli(['rm', 'tiny:*', 'HF.CO/org/tiny-gguf:q4_k_m']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^removed tiny:latest\nremoved tiny:q2\nremoved hf\.co\/org\/Tiny-GGUF:Q4_K_M$/m);
    expect(await store()).toEqual({ models: [VISION], blobs: expect.any(Array), problems: [] });
  });

  it('gc removes abandoned staging and old orphans, and nothing else', async () => {
    await push(...ALL);
    // Orphans: a model's manifest deleted by hand (as an old ollama rm might leave it); one old, one fresh.
    rmSync(join(models, 'manifests/hf.co'), { recursive: true });
    const [hfConfig, hfModel] = blobsOf(local, 'hf.co/org/Tiny-GGUF/Q4_K_M');
    setAge(join(models, 'blobs', `sha256-${hfModel}`), 61);
    setAge(join(models, 'blobs', `sha256-${TINY_BLOBS[1]}`), 24 * 60); // referenced: stays
    // Staging an interrupted push left (its lock's heartbeat 10 minutes old), and one being written now.
    const staged = (hex: string, minutes: number) => {
      const dir = join(models, '.ollama-push', `sha256-${hex}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'data'), Buffer.alloc(100_000, 7));
      writeFileSync(join(dir, 'done.0-100000'), '');
      mkdirSync(`${dir}.lock`);
      writeFileSync(join(`${dir}.lock`, 'owner'), 'other-machine 4242 abcd1234\n');
      setAge(`${dir}.lock`, minutes);
    };
    staged('1'.repeat(64), 10);
    staged('2'.repeat(64), 0);

    const dry = await cli(['gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`^would remove blob sha256:${hfModel} \\(262 KB\\)$`, 'm'));
    expect(dry.stdout).toMatch(new RegExp(`^would remove staged sha256-${'1'.repeat(64)} \\(\\d+(\\.\\d)? KB\\)$`, 'm'));
    expect(dry.stdout).toMatch(/^kept 1 unreferenced blob newer than an hour \(334 B; a pull or push may be about to use them\)$/m);
    expect(dry.stdout).toMatch(/^kept 1 staged upload a push is writing$/m);
    expect(dry.stdout).toMatch(/^would free \d+ KB in .* \(1 blob and 1 staged upload\)$/m);
    expect(existsSync(join(models, 'blobs', `sha256-${hfModel}`))).toBe(true);

    const result = await cli(['gc', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout) as { blobs: { digest: string; status: string }[]; staging: { name: string; status: string }[]; bytesFreed: number };
    expect(doc.blobs.filter((b) => b.status === 'removed').map((b) => b.digest)).toEqual([`sha256:${hfModel}`]);
    expect(doc.blobs.filter((b) => b.status === 'young').map((b) => b.digest)).toEqual([`sha256:${hfConfig}`]);
    expect(doc.staging.filter((s) => s.status === 'removed').map((s) => s.name)).toEqual([`sha256-${'1'.repeat(64)}`]);
    expect(doc.bytesFreed).toBeGreaterThan(262144 + 100_000);
    expect(readdirSync(join(models, '.ollama-push')).sort()).toEqual([`sha256-${'2'.repeat(64)}`, `sha256-${'2'.repeat(64)}.lock`]);
    expect((await checkOllamaStore(models, { allowUnreferenced: true })).problems).toEqual([]);
    expect((await store()).models).toEqual([TINY, Q2, VISION]);
    expect((await store()).problems).toEqual([`blobs/sha256-${hfConfig}: no manifest references it (Ollama prunes it)`]);
  });

  it('sync --delete leaves exactly the named set; the dry run shows both halves; --exit-code tells whether it is in sync', async () => {
    await push('tiny', 'someone/vision', 'hf.co/org/Tiny-GGUF:Q4_K_M');
    const dry = await cli(['sync', 'tiny:*', '--delete', '--dry-run', '--exit-code']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stdout).toMatch(/^tiny:q2 +missing \(would be published\)$/m);
    expect(dry.stdout).toMatch(/^would remove someone\/vision:latest$/m);
    expect(dry.stdout).toMatch(/^would remove hf\.co\/org\/Tiny-GGUF:Q4_K_M$/m);
    expect((await store()).models).toEqual([HF, TINY, VISION]);

    const result = await cli(['sync', 'tiny:*', '--delete']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^pushed tiny:latest, tiny:q2 to /m);
    expect(result.stderr).toMatch(/^removed someone\/vision:latest$/m);
    expect(await store()).toEqual({ models: [TINY, Q2], blobs: expect.any(Array), problems: [] });

    const again = await cli(['sync', 'tiny', 'tiny:q2', '--delete', '--dry-run', '--exit-code', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ upToDate: true, inSync: true, remove: null });
    // Without --delete the other models stay, and do not count against --exit-code.
    await push('someone/vision');
    expect(await cli(['sync', 'tiny', 'tiny:q2', '--dry-run', '--exit-code'])).toMatchObject({ code: 0 });
    expect((await cli(['sync', 'tiny', 'tiny:q2', '--dry-run', '--exit-code', '--delete'])).code).toBe(1);
  });

  it('sync --all pushes every local model; a name not there stops everything before anything is sent', async () => {
    const missing = await cli(['sync', 'tiny', 'qwen3:4b', '--delete']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/qwen3:4b is not in/);
    expect((await store()).models).toEqual([]);
    const result = await cli(['sync', '--all', '--mkdir', '-q']);
    expect(result.code, result.stderr).toBe(0);
    expect((await store()).models).toEqual([HF, TINY, Q2, VISION]);
    expect((await cli(['sync', '--all', 'tiny'])).code).toBe(2);
  });

  it('rm during a push of a model that shares blobs with it leaves a valid store', async () => {
    for (let round = 0; round < 4; round++) {
      rmSync(models, { recursive: true, force: true });
      mkdirSync(models, { recursive: true });
      await push('tiny');
      // tiny:q2 shares its template and license with tiny:latest: the push finds them present and only
      // publishes its manifest (and its own two blobs), while rm decides whether they are still used.
      // rm starts first; the push's publish lands before, while, or after rm decides (round by round).
      const removing = cli(['rm', 'tiny', '-q']);
      await new Promise((r) => setTimeout(r, round * 300));
      const pushing = cli(['push', 'tiny:q2', '-q']);
      const [pushed, removed] = await Promise.all([pushing, removing]);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(removed.code, removed.stderr).toBe(0);
      expect(await store(), `round ${round}`).toEqual({ models: [Q2], blobs: [...Q2_BLOBS].sort(), problems: [] });
      expect(readdirSync(join(models, '.ollama-push')).filter((e) => !e.startsWith('sha256-'))).toEqual([]);
    }
  });

  it('gc during a push that publishes old orphaned blobs leaves a valid store', async () => {
    for (let round = 0; round < 3; round++) {
      rmSync(models, { recursive: true, force: true });
      mkdirSync(models, { recursive: true });
      await push('tiny:q2');
      // Its manifest gone by hand, its blobs old orphans: gc may remove them, the push re-publishes them.
      rmSync(join(models, 'manifests'), { recursive: true });
      for (const hex of Q2_BLOBS) setAge(join(models, 'blobs', `sha256-${hex}`), 120);
      const collecting = cli(['gc', '-q']);
      await new Promise((r) => setTimeout(r, round * 300));
      const pushing = cli(['push', 'tiny:q2', '-q']);
      const [pushed, collected] = await Promise.all([pushing, collecting]);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(collected.code, collected.stderr).toBe(0);
      expect(await store(), `round ${round}`).toEqual({ models: [Q2], blobs: [...Q2_BLOBS].sort(), problems: [] });
    }
  });

  it('refuses to remove anything while a link is in manifests/, and says why', async () => {
    await push('tiny');
    symlinkSync('/etc', join(models, 'manifests', 'registry.ollama.ai', 'etc'));
    const listed = await cli(['list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toMatch(/warning: .*manifests\/registry\.ollama\.ai\/etc is a symbolic link/);
    const result = await cli(['rm', 'tiny']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ollama-push: refusing to write to this machine: .*\/etc is a symbolic link; .*cannot tell which blobs that model uses/m);
    expect((await checkOllamaStore(models)).models).toEqual([TINY]);
    expect(sha256(readFileSync(join(models, 'blobs', `sha256-${TINY_BLOBS[1]}`)))).toBe(TINY_BLOBS[1]);
  });
});

describe('examples/Makefile sync', () => {
  it('makes the destination hold MODELS, and with DELETE=1 exactly MODELS', async () => {
    const work = await tempDir('ollama-push-make-');
    try {
      const remote = join(work.path, 'pvc');
      const make = (variables: Record<string, string>) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          const env: NodeJS.ProcessEnv = {};
          for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OLLAMA_PUSH') && key !== 'MAKEFLAGS') env[key] = value;
          const args = ['-C', join(REPO, 'examples'), 'sync', `OLLAMA_PUSH=${process.execPath} ${CLI}`, `MODELS_DIR=${FIXTURE_MODELS}`, `REMOTE_PATH=${remote}`];
          execFile('make', [...args, ...Object.entries(variables).map(([k, v]) => `${k}=${v}`)], { env }, (error, _stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
          );
        });
      const first = await make({ MODELS: 'tiny someone/vision', FLAGS: '--mkdir' });
      expect(first.code, first.stderr).toBe(0);
      expect((await checkOllamaStore(remote)).models).toEqual([TINY, VISION]);
      const kept = await make({ MODELS: 'tiny:q2' });
      expect(kept.code, kept.stderr).toBe(0);
      expect((await checkOllamaStore(remote)).models).toEqual([TINY, Q2, VISION]);
      const exact = await make({ MODELS: 'tiny:*', DELETE: '1' });
      expect(exact.code, exact.stderr).toBe(0);
      expect(await checkOllamaStore(remote)).toEqual({ models: [TINY, Q2], blobs: expect.any(Array), problems: [] });
    } finally {
      await work.remove();
    }
  });
});
