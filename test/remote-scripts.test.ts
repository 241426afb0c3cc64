import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROGRAM_NAMES, type ProgramName, program, programFile } from '../src/remote/programs.js';
import { tempDir } from './harness/cli.js';
import { waitFor } from './harness/wait.js';

/** Runs one destination program alone, as the client would, against a temp store. */
function run(name: ProgramName, args: readonly string[], input: string | Buffer = '') {
  const result = spawnSync('sh', ['-c', program(name), 'ollama-push', ...args], { input });
  return { code: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Whether a process runs (a zombie does not: it waits only for its parent to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
/** Where this machine's PATH finds a tool (for a wrapper on a test PATH that runs the real one). */
const toolPath = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).stdout.toString().trim();
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('the destination programs as files', () => {
  it.each(PROGRAM_NAMES)('%s passes shellcheck -s sh, as sent (lib.sh in front)', (name) => {
    expect(has('shellcheck'), 'shellcheck is needed (Debian package shellcheck, installed by .ci/run)').toBe(true);
    const sent = `${readFileSync(programFile('lib'), 'utf8')}\n${readFileSync(programFile(name), 'utf8')}`;
    const result = spawnSync('shellcheck', ['-s', 'sh', '-'], { input: sent });
    expect(result.stdout.toString()).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(PROGRAM_NAMES)('%s starts with a header saying its arguments and answers', (name) => {
    const header = readFileSync(programFile(name), 'utf8').split('\n')[0]!;
    expect(header).toMatch(new RegExp(`^# ${name}\\.sh [A-Z]`));
  });
});

describe('sha256_of, the one sha256 the destination programs use', () => {
  const content = Buffer.from('ollama-push\n'.repeat(1000));
  it.each(['openssl', 'sha256sum', 'shasum'].filter(has))('hashes stdin with %s', (hasher) => {
    const lib = readFileSync(programFile('lib'), 'utf8');
    const result = spawnSync('sh', ['-c', `${lib}\nhasher=${hasher}\nsha256_of`], { input: content });
    expect(result.stdout.toString().trim()).toBe(sha256(content));
  });

  it('fails, saying why, where there is no sha256 tool', () => {
    const lib = readFileSync(programFile('lib'), 'utf8');
    const result = spawnSync('sh', ['-c', `${lib}\nhasher=none\nsha256_of`], { input: 'x' });
    expect(result.status).toBe(1);
    expect(result.stderr.toString()).toMatch(/no sha256 tool/);
  });
});

describe('enter_staging, the way into .ollama-push', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => (dir = await tempDir()));
  afterEach(() => dir.remove());

  it.each<[string, number, string]>([
    ['made private when new', -1, '700'],
    ['left as it is when private', 0o700, '700'],
    ['made private when others may read it', 0o755, '700'],
    ['refused when its group may write it', 0o770, 'unsafe'],
    ['refused when others may write it', 0o703, 'unsafe'],
  ])('%s', (_what, mode, outcome) => {
    const staging = join(dir.path, '.ollama-push');
    if (mode >= 0) {
      mkdirSync(staging);
      chmodSync(staging, mode);
    }
    const lib = readFileSync(programFile('lib'), 'utf8');
    const result = spawnSync('sh', ['-c', `${lib}\ncd "$1" && enter_staging && pwd`, 'sh', dir.path]);
    if (outcome === 'unsafe') {
      expect(result.status).toBe(3);
      expect(result.stderr.toString()).toMatch(/is writable by other users/);
    } else {
      expect(result.stdout.toString().trim(), result.stderr.toString()).toBe(staging);
      expect((statSync(staging).mode & 0o777).toString(8)).toBe(outcome);
    }
  });
});

describe('the destination programs alone, against a temp store', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: string;
  const data = Buffer.from('a staged blob\n'.repeat(100));
  const hex = sha256(data);
  const staging = () => join(store, '.ollama-push');
  const lock = (owner: string, minutesOld = 0) => {
    const path = join(staging(), `sha256-${hex}.lock`);
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'owner'), `${owner}\n`);
    const then = new Date(Date.now() - minutesOld * 60_000);
    utimesSync(path, then, then);
  };
  const lockArgs = (me: string, dead = '') => [store, 'models', hex, String(data.length), me, '2', dead];

  beforeEach(async () => {
    dir = await tempDir();
    store = join(dir.path, 'models');
    mkdirSync(store);
  });
  afterEach(() => dir.remove());

  it.each<[string, { owner: string; age?: number } | undefined, string, string]>([
    ['a free blob', undefined, '', 'acquired'],
    ['a lock held by a live run', { owner: 'host 1 other' }, '', 'busy host 1 other'],
    ['a stale lock (no heartbeat for longer than STALE minutes)', { owner: 'host 1 other', age: 5 }, '', 'acquired'],
    ['a lock of a run found dead', { owner: 'host 1 dead' }, 'host 1 dead', 'acquired'],
    ['our own lock', { owner: 'host 2 me' }, '', 'acquired'],
  ])('take-lock: %s', (_what, held, dead, answer) => {
    if (held) lock(held.owner, held.age ?? 0);
    const result = run('take-lock', lockArgs('host 2 me', dead));
    expect(result.stdout.trim(), result.stderr).toBe(answer);
    if (answer === 'acquired') expect(readFileSync(join(staging(), `sha256-${hex}.lock`, 'owner'), 'utf8')).toBe('host 2 me\n');
  });

  it('take-lock: a lock whose maker has not written its owner yet is not busy with nobody (two writers of one run)', () => {
    const path = join(staging(), `sha256-${hex}.lock`);
    mkdirSync(path, { recursive: true });
    // The other writer of this run: made the lock, writes the owner a moment later.
    spawn('sh', ['-c', 'sleep 0.3; echo "host 2 me" > "$1/owner"', 'sh', path], { stdio: 'ignore' });
    const result = run('take-lock', lockArgs('host 2 me'));
    expect(result.stdout.trim(), result.stderr).toBe('acquired');
  });

  it.each([
    ['the right bytes', data, 'stored'],
    ['a short file', data.subarray(1), `mismatch size:${data.length - 1}`],
    ['other bytes of the same size', Buffer.alloc(data.length, 'x'), `mismatch sha256:${sha256(Buffer.alloc(data.length, 'x'))}`],
  ])('commit-blob: %s', (_what, staged, answer) => {
    mkdirSync(join(staging(), `sha256-${hex}`), { recursive: true });
    writeFileSync(join(staging(), `sha256-${hex}`, 'data'), staged);
    const result = run('commit-blob', [...lockArgs('host 2 me'), has('openssl') ? 'openssl' : 'sha256sum', '', '']);
    expect(result.stdout.trim(), result.stderr).toBe(answer);
    // Verified, it waits in the staging for its manifest: nothing of it is in blobs/ yet.
    const published = readdirSync(store).includes('blobs') ? readdirSync(join(store, 'blobs')) : [];
    expect(published).toEqual([]);
    expect(readdirSync(staging())).toEqual(answer === 'stored' ? ['verified'] : []);
    if (answer === 'stored') expect(readFileSync(join(staging(), 'verified', `sha256-${hex}`))).toEqual(data);
  });

  it('a verified blob is stored to the probe and take-lock, and its manifest publishes it in one step', () => {
    const other = 'b'.repeat(64);
    mkdirSync(join(staging(), 'verified'), { recursive: true });
    writeFileSync(join(staging(), 'verified', `sha256-${hex}`), data);
    writeFileSync(join(staging(), 'verified', `sha256-${other}`), 'another model');
    const probed = run('probe', [store, '0'], `.\n${hex}\n`).stdout;
    expect(probed).toContain(`stored ${hex} ${data.length}\n`);
    expect(run('take-lock', lockArgs('host 2 me')).stdout.trim()).toBe('stored');
    const manifest = `{"schemaVersion":2,"layers":[{"digest":"sha256:${hex}","size":${data.length}}]}`;
    const args = [store, 'models', '', 'registry.ollama.ai', 'library', 'tiny', 'latest'];
    expect(run('publish-manifest', args, `${hex} ${data.length}\n.\n${manifest}`).stdout.trim()).toBe('published');
    expect(readFileSync(join(store, 'blobs', `sha256-${hex}`))).toEqual(data);
    expect(readFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/latest'), 'utf8')).toBe(manifest);
    // Another model's verified blob stays where it waits.
    expect(readdirSync(join(staging(), 'verified'))).toEqual([`sha256-${other}`]);
    expect(readdirSync(join(store, 'blobs'))).toEqual([`sha256-${hex}`]);
  });

  it('range-writer: a range written again first drops the markers it overlaps; one cut short marks only the whole MiBs it copied', () => {
    const MiB = 1024 * 1024;
    const blob = join(staging(), `sha256-${hex}`);
    mkdirSync(blob, { recursive: true });
    // Both halves were staged; the first was then found damaged and is sent again, but the data ends at 1.5 MiB.
    writeFileSync(join(blob, `done.0-${2 * MiB}`), '');
    writeFileSync(join(blob, `done.${2 * MiB}-${4 * MiB}`), '');
    const request = Buffer.concat([Buffer.from(`${hex} ${4 * MiB} 0 ${2 * MiB}\n`), Buffer.alloc(1.5 * MiB, 'r')]);
    const result = run('range-writer', [store, 'models', 'host 2 me', '2'], request);
    expect(result.stdout.trim(), result.stderr).toBe('short');
    expect(readdirSync(blob).filter((f) => f.startsWith('done.')).sort()).toEqual([`done.0-${MiB}`, `done.${2 * MiB}-${4 * MiB}`]);
  });

  it('range-writer: the heartbeat of a range\'s lock ends with the range and leaves no sleep behind', async () => {
    // A sleep that notes its pid: the heartbeat's nap is known to have started before the range ends.
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const naps = join(dir.path, 'naps');
    const sleep = toolPath('sleep');
    writeFileSync(join(bin, 'sleep'), `#!/bin/sh\necho $$ >> '${naps}'\nexec ${sleep} "$@"\n`, { mode: 0o755 });
    const writer = spawn('sh', ['-c', program('range-writer'), 'ollama-push', store, 'models', 'host 2 me', '2'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    let answer = '';
    writer.stdout.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const exited = new Promise((resolve) => writer.on('close', resolve));
    writer.stdin.write(`${hex} ${data.length} 0 ${data.length}\n`);
    await waitFor('the heartbeat to sleep', () => existsSync(naps));
    writer.stdin.end(Buffer.concat([data, Buffer.from('OPUSHEND\n')]));
    await exited;
    expect(answer).toBe('written\n');
    const pids = readFileSync(naps, 'utf8').split('\n').filter(Boolean).map(Number);
    await waitFor(`the heartbeat's sleep (pid ${pids.join(', ')}) to end`, () => pids.every((pid) => !alive(pid)), 5000);
  });

  // A dd that fills blocks but cannot count bytes (FreeBSD's, recent macOS'), and a head that must not be
  // used: BSD's reads ahead on a pipe and would take the end mark and the next request.
  const blockOnlyTools = () => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const dd = toolPath('dd');
    writeFileSync(join(bin, 'dd'), `#!/bin/sh\ncase "$*" in *count_bytes*) echo "dd: unknown iflag" >&2; exit 1 ;; esac\nexec ${dd} "$@"\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'head'), '#!/bin/sh\necho "head read the writer\'s stdin" >&2\nexit 99\n', { mode: 0o755 });
    return { PATH: `${bin}:${process.env.PATH}` };
  };

  it.each<[string, boolean]>([
    ['a dd that counts bytes (GNU, busybox)', false],
    ['a dd that only fills blocks (FreeBSD, macOS)', true],
  ])('range-writer reads each range exactly with %s: requests back to back, a stored blob drained, a range cut short', (_what, blockOnly) => {
    const env = { ...process.env, ...(blockOnly ? blockOnlyTools() : {}) };
    const writer = (input: Buffer) => {
      const result = spawnSync('sh', ['-c', program('range-writer'), 'ollama-push', store, 'models', 'host 2 me', '2'], { input, env });
      return { stdout: result.stdout.toString(), stderr: result.stderr.toString() };
    };
    const MiB = 1024 * 1024;
    const blob = randomBytes(MiB + 70_000);
    const blobHex = sha256(blob);
    const request = (h: string, size: number, start: number, bytes: Buffer, end = 'OPUSHEND\n') =>
      Buffer.concat([Buffer.from(`${h} ${size} ${start} ${bytes.length}\n`), bytes, Buffer.from(end)]);
    mkdirSync(join(staging(), 'verified'), { recursive: true });
    writeFileSync(join(staging(), 'verified', `sha256-${hex}`), data);
    const result = writer(
      Buffer.concat([request(hex, data.length, 0, data), request(blobHex, blob.length, 0, blob.subarray(0, MiB)), request(blobHex, blob.length, MiB, blob.subarray(MiB))]),
    );
    expect(result.stdout, result.stderr).toBe('stored\nwritten\nwritten\n');
    const staged = join(staging(), `sha256-${blobHex}`);
    expect(sha256(readFileSync(join(staged, 'data')))).toBe(blobHex);
    expect(readdirSync(staged).filter((f) => f.startsWith('done.')).sort()).toEqual([`done.0-${MiB}`, `done.${MiB}-${blob.length}`]);

    const other = Buffer.alloc(3 * MiB, 'o');
    const cut = writer(request(sha256(other), other.length, 0, other.subarray(0, 1.5 * MiB), ''));
    expect(cut.stdout, cut.stderr).toBe('short\n');
    expect(readdirSync(join(staging(), `sha256-${sha256(other)}`)).filter((f) => f.startsWith('done.'))).toEqual([`done.0-${MiB}`]);
  });

  /**
   * A PATH for hash-follow: with `python`, this machine's PATH behind a python3 that logs each run; without,
   * links to every tool of this machine's PATH but python3.
   */
  const followerPath = (python: boolean) => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const log = join(dir.path, 'python.log');
    if (python) {
      const real = toolPath('python3');
      writeFileSync(join(bin, 'python3'), `#!/bin/sh\necho ran >> '${log}'\nexec ${real} "$@"\n`, { mode: 0o755 });
      return { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, pythonRuns: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length };
    }
    for (const from of (process.env.PATH ?? '').split(':').filter(Boolean)) {
      let names: string[] = [];
      try {
        names = readdirSync(from);
      } catch {
        continue;
      }
      for (const name of names.filter((n) => !n.startsWith('python'))) {
        try {
          symlinkSync(join(from, name), join(bin, name));
        } catch {
          // an earlier PATH entry has it
        }
      }
    }
    return { env: { ...process.env, PATH: bin }, pythonRuns: () => 0 };
  };

  /** Runs hash-follow over `ranges` of the staged blob `hex`, fd 3 held open as the client does; `before` runs once it has started. */
  const follow = async (hex: string, size: number, ranges: string[], env: NodeJS.ProcessEnv, before?: () => Promise<void>) => {
    const args = [store, 'models', hex, String(size), 'host 2 me', '2', '', has('openssl') ? 'openssl' : 'sha256sum', ''];
    const child = spawn('sh', ['-c', program('hash-follow'), 'ollama-push', ...args], { env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    child.stdin!.end(`${ranges.join('\n')}\n.\n`);
    await before?.();
    const code = await new Promise((resolve) => child.on('close', resolve));
    return { code, stdout: stdout.trim(), stderr };
  };

  const MiB = 1024 * 1024;
  const stage = (blob: Buffer, ranges: string[], bytes = blob) => {
    const staged = join(staging(), `sha256-${sha256(blob)}`);
    mkdirSync(staged, { recursive: true });
    writeFileSync(join(staged, 'data'), bytes);
    for (const r of ranges) writeFileSync(join(staged, `done.${r}`), '');
  };

  it.each<[string, boolean]>([
    ['python3 reading the staged file', true],
    ['dd into the hasher (no python3)', false],
  ])('hash-follow stores a blob whose staged ranges hash right: %s', async (_what, python) => {
    const blob = randomBytes(2 * MiB + 5);
    const ranges = [`0-${MiB}`, `${MiB}-${blob.length}`];
    stage(blob, ranges);
    const path = followerPath(python);
    const result = await follow(sha256(blob), blob.length, ranges, path.env);
    expect(result.stdout, result.stderr).toBe('stored');
    expect(result.code).toBe(0);
    expect(readFileSync(join(staging(), 'verified', `sha256-${sha256(blob)}`)).equals(blob)).toBe(true);
    expect(path.pythonRuns()).toBe(python ? 1 : 0);
  });

  it('hash-follow with python3 waits for the staged data the writer has not made yet, without a sleep process', async () => {
    const blob = randomBytes(2 * MiB);
    const ranges = [`0-${MiB}`, `${MiB}-${2 * MiB}`];
    mkdirSync(join(staging(), `sha256-${sha256(blob)}`), { recursive: true });
    const path = followerPath(true);
    // A sleep that notes each run: python3 waits in its own process.
    const naps = join(dir.path, 'naps');
    const sleep = toolPath('sleep');
    writeFileSync(join(dir.path, 'bin', 'sleep'), `#!/bin/sh\necho "$@" >> '${naps}'\nexec ${sleep} "$@"\n`, { mode: 0o755 });
    const result = await follow(sha256(blob), blob.length, ranges, path.env, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      stage(blob, ranges.slice(0, 1));
      await new Promise((resolve) => setTimeout(resolve, 200));
      writeFileSync(join(staging(), `sha256-${sha256(blob)}`, `done.${ranges[1]}`), '');
    });
    expect(result.stdout, result.stderr).toBe('stored');
    expect(path.pythonRuns()).toBe(1);
    expect(existsSync(naps)).toBe(false);
  });

  it.each<[string, boolean]>([
    ['python3', true],
    ['dd into the hasher', false],
  ])('hash-follow with %s answers no sha256 of the blob when the staged data is shorter than its ranges', async (_what, python) => {
    const blob = randomBytes(2 * MiB);
    const ranges = [`0-${MiB}`, `${MiB}-${2 * MiB}`];
    const part = blob.subarray(0, 1.5 * MiB);
    stage(blob, ranges, part);
    const result = await follow(sha256(blob), blob.length, ranges, followerPath(python).env);
    expect(result.code).toBe(0);
    // python3 stops at the end of the data and answers nothing; dd hashes what there is.
    expect(result.stdout).toBe(python ? '' : sha256(part));
    if (python) expect(result.stderr).toMatch(/the staged data is shorter than its ranges/);
    expect(readdirSync(staging())).not.toContain('verified');
  });

  it('hash-published answers for many blobs at once: their sums, one over 4 MiB, one missing; with DROP it removes a wrong one', () => {
    const blobs = join(store, 'blobs');
    mkdirSync(blobs);
    const put = (bytes: Buffer, hex = sha256(bytes)) => {
      writeFileSync(join(blobs, `sha256-${hex}`), bytes);
      return hex;
    };
    const small = Array.from({ length: 600 }, (_, i) => put(Buffer.from(`small blob ${i}\n`)));
    const large = put(randomBytes(5 * 1024 * 1024));
    const wrong = put(Buffer.from('not the bytes of its name\n'), sha256('other bytes'));
    const missing = sha256('never published');
    const hasher = has('openssl') ? 'openssl' : 'sha256sum';
    const result = run('hash-published', [store, 'models', hasher, '1'], `${[...small, large, wrong, missing].join('\n')}\n`);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(small.length + 3);
    const answers = new Map(lines.map((line) => line.split(' ') as [string, string]));
    expect(answers.size).toBe(small.length + 3);
    for (const hex of [...small, large]) expect(answers.get(hex)).toBe(hex);
    expect(answers.get(wrong)).toBe(sha256('not the bytes of its name\n'));
    expect(answers.get(missing)).toBe('-');
    expect(readdirSync(blobs)).toHaveLength(small.length + 1);
    expect(readdirSync(blobs)).not.toContain(`sha256-${wrong}`);
  });

  it('hash-published answers a blob that vanishes before it is read as not there, not as a wrong sum: small or over 4 MiB', () => {
    const blobs = join(store, 'blobs');
    mkdirSync(blobs);
    const put = (bytes: Buffer) => {
      writeFileSync(join(blobs, `sha256-${sha256(bytes)}`), bytes);
      return sha256(bytes);
    };
    const small = put(Buffer.from('a small blob\n'));
    const large = put(randomBytes(5 * 1024 * 1024));
    // A dd and a hasher that remove the files they are given just before they read them (pruned by Ollama meanwhile).
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'dd'), `#!/bin/sh\nfor a in "$@"; do case $a in if=*) rm -f -- "\${a#if=}" ;; esac; done\nexec ${toolPath('dd')} "$@"\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'sha256sum'), `#!/bin/sh\n[ $# = 0 ] || rm -f -- "$@"\nexec ${toolPath('sha256sum')} "$@"\n`, { mode: 0o755 });
    const result = spawnSync('sh', ['-c', program('hash-published'), 'ollama-push', store, 'models', 'sha256sum', '0'], {
      input: `${small}\n${large}\n`,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(result.status, result.stderr.toString()).toBe(0);
    expect(result.stdout.toString().trim().split('\n').sort()).toEqual([`${large} -`, `${small} -`].sort());
  });

  it('hash-published refuses a link at a wanted name before it hashes anything', () => {
    const blobs = join(store, 'blobs');
    mkdirSync(blobs);
    const outside = join(dir.path, 'outside');
    writeFileSync(outside, data);
    symlinkSync(outside, join(blobs, `sha256-${hex}`));
    const result = run('hash-published', [store, 'models', has('openssl') ? 'openssl' : 'sha256sum', '1'], `${hex}\n`);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/is not a regular file \(a link or a directory where a blob belongs\): remove it/);
    expect(result.stdout).toBe('');
    expect(readFileSync(outside)).toEqual(data);
  });

  it('hash-published refuses the answers when a blob became a link while it was hashed', () => {
    const blobs = join(store, 'blobs');
    mkdirSync(blobs);
    writeFileSync(join(blobs, `sha256-${hex}`), data);
    writeFileSync(join(dir.path, 'outside'), data);
    // A hasher that swaps the blob for a link to an outside copy just before it reads it.
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const sha256sum = toolPath('sha256sum');
    writeFileSync(join(bin, 'sha256sum'), `#!/bin/sh\nrm -f sha256-${hex} && ln -s '${join(dir.path, 'outside')}' sha256-${hex}\nexec ${sha256sum} "$@"\n`, { mode: 0o755 });
    const result = spawnSync('sh', ['-c', program('hash-published'), 'ollama-push', store, 'models', 'sha256sum', '0'], {
      input: `${hex}\n`,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(result.status, result.stderr.toString()).toBe(3);
    expect(result.stderr.toString()).toMatch(new RegExp(`blobs/sha256-${hex} is not a regular file \\(a link or a directory where a blob belongs\\): remove it`));
  });

  it('small-blobs: a blob whose bytes are not its name is answered mismatch and kept nowhere; the others are stored', () => {
    const good = 'a good small blob\n';
    const bad = { text: 'these bytes are not the name\n', hex: sha256('another text') };
    const files = join(dir.path, 'files');
    mkdirSync(files);
    writeFileSync(join(files, `sha256-${sha256(good)}`), good);
    writeFileSync(join(files, `sha256-${bad.hex}`), bad.text);
    const tar = spawnSync('tar', ['-cf', '-', '-C', files, `sha256-${sha256(good)}`, `sha256-${bad.hex}`]).stdout;
    const result = run('small-blobs', [store, 'models', has('openssl') ? 'openssl' : 'sha256sum', ''], tar);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n').sort()).toEqual([`${bad.hex} mismatch ${sha256(bad.text)}`, `${sha256(good)} stored`].sort());
    expect(readdirSync(join(staging(), 'verified'))).toEqual([`sha256-${sha256(good)}`]);
    expect(readdirSync(staging()).sort()).toEqual(['verified']);
  });

  it('small-blobs: a batch cut short keeps the blobs that arrived whole, and says it ended early', () => {
    const blobs = ['first small blob\n', 'second small blob\n', 'x'.repeat(5000)].map((text) => ({ text, hex: sha256(text) }));
    const files = join(dir.path, 'files');
    mkdirSync(files);
    for (const { text, hex: h } of blobs) writeFileSync(join(files, `sha256-${h}`), text);
    const tar = spawnSync('tar', ['-cf', '-', '-C', files, ...blobs.map((b) => `sha256-${b.hex}`)]).stdout;
    // Each of the first two takes a 512-byte header and one block: the cut falls inside the third's data.
    const cut = tar.subarray(0, 4 * 512 + 2048);
    const result = run('small-blobs', [store, 'models', has('openssl') ? 'openssl' : 'sha256sum', ''], cut);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/ended early; the blobs that arrived whole are kept/);
    expect(result.stdout.trim().split('\n').sort()).toEqual(blobs.slice(0, 2).map((b) => `${b.hex} stored`).sort());
    expect(readdirSync(join(staging(), 'verified')).sort()).toEqual(blobs.slice(0, 2).map((b) => `sha256-${b.hex}`).sort());
    // Nothing else is left in the staging: the batch's own directory is gone.
    expect(readdirSync(staging())).toEqual(['verified']);
  });

  it('publish-manifest makes the model directory again when an rm of its last tag removes it just before the rename', () => {
    mkdirSync(join(store, 'blobs'));
    writeFileSync(join(store, 'blobs', `sha256-${hex}`), data);
    // The rm that races it, in the first mv: it removes the directory the publish has just entered, empty.
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const once = join(dir.path, 'raced');
    writeFileSync(join(bin, 'mv'), `#!/bin/sh\nif [ ! -e '${once}' ]; then : > '${once}'; rmdir "$PWD"; fi\nexec /bin/mv "$@"\n`, { mode: 0o755 });
    const manifest = `{"schemaVersion":2,"layers":[{"digest":"sha256:${hex}","size":${data.length}}]}`;
    const args = [store, 'models', '', 'registry.ollama.ai', 'library', 'tiny', 'q2'];
    const result = spawnSync('sh', ['-c', program('publish-manifest'), 'ollama-push', ...args], {
      input: `${hex} ${data.length}\n.\n${manifest}`,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(result.stdout.toString().trim(), result.stderr.toString()).toBe('published');
    expect(readdirSync(dir.path)).toContain('raced');
    expect(readFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/q2'), 'utf8')).toBe(manifest);
  });

  it('publish-manifest writes nothing while a blob is missing, then publishes, then says unchanged', () => {
    const manifest = `{"schemaVersion":2,"layers":[{"digest":"sha256:${hex}","size":${data.length}}]}`;
    const input = `${hex} ${data.length}\n.\n${manifest}`;
    const args = [store, 'models', '', 'registry.ollama.ai', 'library', 'tiny', 'latest'];
    expect(run('publish-manifest', args, input).stdout.trim()).toBe(`missing ${hex}`);
    expect(readdirSync(store)).not.toContain('manifests');
    mkdirSync(join(store, 'blobs'));
    writeFileSync(join(store, 'blobs', `sha256-${hex}`), data);
    expect(run('publish-manifest', args, input).stdout.trim()).toBe('published');
    expect(readFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/latest'), 'utf8')).toBe(manifest);
    expect(run('publish-manifest', args, input).stdout.trim()).toBe('unchanged');
    expect(readdirSync(staging())).toEqual([]);
  });

  it('publish-manifest reuses a name already on disk in another case, as Ollama does', () => {
    mkdirSync(join(store, 'blobs'));
    writeFileSync(join(store, 'blobs', `sha256-${hex}`), data);
    mkdirSync(join(store, 'manifests/registry.ollama.ai/library/Qwen3'), { recursive: true });
    writeFileSync(join(store, 'manifests/registry.ollama.ai/library/Qwen3/Latest'), 'old');
    const args = [store, 'models', '', 'registry.ollama.ai', 'library', 'qwen3', 'latest'];
    expect(run('publish-manifest', args, `${hex} ${data.length}\n.\nnew`).stdout.trim()).toBe('published');
    expect(readdirSync(join(store, 'manifests/registry.ollama.ai/library'))).toEqual(['Qwen3']);
    expect(readFileSync(join(store, 'manifests/registry.ollama.ai/library/Qwen3/Latest'), 'utf8')).toBe('new');
    const probed = run('probe', [store, '0'], 'manifest registry.ollama.ai/library/qwen3/latest\n.\n').stdout;
    expect(probed).toContain(`manifest 0 ${sha256('new')}`);
  });

  it('probe reports layout, manifests, published sizes, staged ranges and locks', () => {
    mkdirSync(join(store, 'blobs'));
    writeFileSync(join(store, 'blobs', `sha256-${hex}`), data);
    mkdirSync(join(store, 'manifests/registry.ollama.ai/library/tiny'), { recursive: true });
    writeFileSync(join(store, 'manifests/registry.ollama.ai/library/tiny/latest'), 'manifest');
    const other = 'b'.repeat(64);
    mkdirSync(join(staging(), `sha256-${other}`), { recursive: true });
    writeFileSync(join(staging(), `sha256-${other}`, 'done.0-1048576'), '');
    mkdirSync(join(staging(), `sha256-${other}.lock`));
    writeFileSync(join(staging(), `sha256-${other}.lock`, 'owner'), 'host 1 run\n');
    const input = `manifest registry.ollama.ai/library/tiny/latest\nmanifest registry.ollama.ai/library/gone/latest\n.\n${hex}\n${other}\n${'c'.repeat(64)}\n`;
    const lines = run('probe', [store, '0'], input).stdout.trim().split('\n').map((line) => line.trim());
    expect(lines[0]).toBe('layout models');
    expect(lines).toContain(`manifest 0 ${sha256('manifest')}`);
    expect(lines).toContain('manifest 1 -');
    expect(lines).toContain(`blob ${hex} ${data.length}`);
    expect(lines).toContain(`blob ${other} - 0-1048576`);
    expect(lines).toContain(`lock ${other} host 1 run`);
    expect(lines).toContain(`blob ${'c'.repeat(64)} -`);
  });

  it('every program after the probe refuses a remote path that now leads elsewhere than the probe found', () => {
    const result = run('take-lock', [store, `models:${join(dir.path, 'elsewhere')}`, hex, String(data.length), 'me', '2', '']);
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toMatch(/^unsafe destination: .* now leads to .*, not to .*elsewhere as when the push began/);
    expect(readdirSync(store)).toEqual([]);
  });

  it.each(['probe', 'take-lock', 'commit-blob', 'hash-published'] as const)('%s refuses a link at blobs/ with exit 3 and one line', (name) => {
    mkdirSync(join(dir.path, 'elsewhere'));
    symlinkSync(join(dir.path, 'elsewhere'), join(store, 'blobs'));
    const args = name === 'probe' ? [store, '1'] : name === 'hash-published' ? [store, 'models', 'sha256sum', '0'] : [...lockArgs('me'), 'sha256sum', '', ''];
    const result = run(name, args, `.\n${hex}\n`);
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toMatch(/^unsafe destination: .*\/blobs is a symbolic link/);
    expect(readdirSync(join(dir.path, 'elsewhere'))).toEqual([]);
  });
});
