import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyEntry, fileEntryHeader, paddedSize } from '../src/archive/archive-entries.js';
import { CLI, copyFixtureStore, REPO, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';
import { sshdAvailable, startSshd, type TestSshd } from './harness/sshd.js';

const execFileAsync = promisify(execFile);

const TINY = 'registry.ollama.ai/library/tiny:latest';
const Q2 = 'registry.ollama.ai/library/tiny:q2';
const GGUF = 'hf.co/org/Tiny-GGUF:Q4_K_M';
const MODELS = ['tiny', 'tiny:q2', 'hf.co/org/Tiny-GGUF:Q4_K_M'];
const GiB = 1024 ** 3;

/** The real CLI with binary stdout (runCli decodes stdout as text, which would mangle a tar). */
function runCliBinary(args: readonly string[], options: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? process.env, cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Entry names, in archive order, as GNU tar lists them. */
async function tarList(archive: string): Promise<string[]> {
  const { stdout } = await execFileAsync('tar', ['-tf', archive]);
  return stdout.trim().split('\n');
}

/** A tar built entry by entry, for archives export would never write. */
async function buildTar(entries: { name: string; data?: Buffer; type?: 'file' | 'symlink' | 'directory'; linkname?: string }[]): Promise<Buffer> {
  const archive = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) => {
      const header = { name: entry.name, type: entry.type ?? 'file', mode: 0o644, ...(entry.linkname ? { linkname: entry.linkname } : {}) };
      archive.entry(header, entry.data ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    });
  }
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}

describe('export', () => {
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  beforeEach(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
  });
  afterEach(() => work.remove());

  it('writes a tar that tar -x turns into a valid store: blobs once and first, manifests byte for byte', async () => {
    const archive = join(work.path, 'models.tar');
    const result = await runCli(['export', ...MODELS, '--models-dir', local, '-o', archive]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/exported tiny:latest, tiny:q2, hf\.co\/org\/Tiny-GGUF:Q4_K_M to /);
    expect(existsSync(`${archive}.partial`)).toBe(false);

    const names = await tarList(archive);
    const blobs = names.filter((n) => n.startsWith('blobs/'));
    const manifests = names.filter((n) => n.startsWith('manifests/'));
    expect(new Set(blobs).size).toBe(blobs.length);
    expect(names).toEqual([...blobs, ...manifests]);
    expect(manifests).toEqual([
      'manifests/registry.ollama.ai/library/tiny/latest',
      'manifests/registry.ollama.ai/library/tiny/q2',
      'manifests/hf.co/org/Tiny-GGUF/Q4_K_M',
    ]);

    const extracted = join(work.path, 'extracted');
    await mkdir(extracted);
    await execFileAsync('tar', ['-xf', archive, '-C', extracted]);
    const report = await checkOllamaStore(extracted);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([GGUF, TINY, Q2].sort());
    for (const manifest of manifests) {
      expect(await readFile(join(extracted, manifest))).toEqual(await readFile(join(local, manifest)));
    }
  });

  it('writes only the tar to stdout with -o -', async () => {
    const result = await runCliBinary(['export', 'tiny', '--models-dir', local, '-o', '-']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/exported tiny:latest to stdout/);
    expect(result.stdout.subarray(0, 13).toString()).toBe('blobs/sha256-');
    const extracted = join(work.path, 'from-stdout');
    await mkdir(extracted);
    await writeFile(join(work.path, 'stdout.tar'), result.stdout);
    await execFileAsync('tar', ['-xf', join(work.path, 'stdout.tar'), '-C', extracted]);
    expect(await checkOllamaStore(extracted)).toMatchObject({ models: [TINY], problems: [] });
  });

  it('stops at a corrupt local blob: names it, leaves no FILE, and what reached stdout is not a whole tar', async () => {
    const manifest = JSON.parse(await readFile(join(local, 'manifests/hf.co/org/Tiny-GGUF/Q4_K_M'), 'utf8'));
    const big = [...manifest.layers].sort((a: { size: number }, b: { size: number }) => b.size - a.size)[0];
    // A whole number of tar blocks: were its bytes all written, the archive would end cleanly after them.
    expect(big.size % 512).toBe(0);
    const hex = big.digest.slice(7);
    const path = join(local, 'blobs', `sha256-${hex}`);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] ^= 0xff; // the very last byte
    await writeFile(path, bytes);

    const archive = join(work.path, 'models.tar');
    const toFile = await runCli(['export', 'hf.co/org/Tiny-GGUF:Q4_K_M', '--models-dir', local, '-o', archive]);
    expect(toFile.code).toBe(1);
    expect(toFile.stderr).toContain(`sha256:${hex}`);
    expect(toFile.stderr).toMatch(/does not match its digest/);
    expect(toFile.stderr.trim().split('\n').at(-1)).toMatch(/^ollama-push: /);
    expect(existsSync(archive)).toBe(false);
    expect(existsSync(`${archive}.partial`)).toBe(false);

    const toStdout = await runCliBinary(['export', 'hf.co/org/Tiny-GGUF:Q4_K_M', '--models-dir', local, '-o', '-']);
    expect(toStdout.code).toBe(1);
    expect(toStdout.stderr).toContain(`sha256:${hex}`);
    const partial = join(work.path, 'partial.tar');
    await writeFile(partial, toStdout.stdout);
    // GNU tar fails on it (reading a pipe: Unexpected EOF; seeking in a file: not at a record boundary), and so does import.
    await expect(execFileAsync('tar', ['-tf', partial])).rejects.toThrow(/Unexpected EOF|record boundary/);
    await expect(execFileAsync('sh', ['-c', 'tar -tf - < "$1"', 'sh', partial])).rejects.toThrow(/Unexpected EOF/);
    const extracted = join(work.path, 'x');
    await mkdir(extracted);
    await expect(execFileAsync('tar', ['-xf', partial, '-C', extracted])).rejects.toThrow();
    expect((await checkOllamaStore(extracted, { allowUnreferenced: true })).models).toEqual([]);
    const imported = await runCli(['import', partial, '--remote-path', join(work.path, 'imported'), '--mkdir']);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toMatch(/cut short or damaged/);
  });

  it('refuses an unknown model before writing anything', async () => {
    const archive = join(work.path, 'models.tar');
    const result = await runCli(['export', 'nope', '--models-dir', local, '-o', archive]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/model nope:latest not found/);
    expect(existsSync(archive) || existsSync(`${archive}.partial`)).toBe(false);
  });
});

describe('tar headers for blobs of 8 GiB and more', () => {
  const size = 8 * GiB + 1; // one more than octal's 11 digits hold

  async function headerBlock(entrySize: number, name = `blobs/sha256-${'a'.repeat(64)}`): Promise<Buffer> {
    const archive = tarPack();
    archive.entry(fileEntryHeader(name, entrySize, new Date(0)));
    const chunks: Buffer[] = [];
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      if (Buffer.concat(chunks).length >= 512) break;
    }
    return Buffer.concat(chunks).subarray(0, 512);
  }

  it('encodes the size in GNU base-256 (0x80, then 11 bytes big-endian)', async () => {
    const header = await headerBlock(size);
    const field = header.subarray(124, 136);
    expect(field[0]).toBe(0x80);
    let decoded = 0;
    for (const byte of field.subarray(1)) decoded = decoded * 256 + byte;
    expect(decoded).toBe(size);
    // Below 8 GiB it stays octal, as every tar writes it.
    expect((await headerBlock(8 * GiB - 1)).subarray(124, 136).toString()).toBe('77777777777 ');
  });

  it('is read back with the right size by GNU tar and by the parser import uses', async () => {
    const work = await tempDir();
    try {
      // A sparse archive: the header, a hole for the data, the end blocks. tar seeks over the hole.
      const archive = join(work.path, 'big.tar');
      const file = await open(archive, 'w');
      await file.write(await headerBlock(size), 0, 512, 0);
      await file.truncate(512 + paddedSize(size) + 1024);
      await file.close();
      const { stdout } = await execFileAsync('tar', ['-tvf', archive]);
      expect(stdout).toContain(` ${size} `);

      const parser = tarExtract();
      const seen = new Promise<number>((resolve) => parser.on('entry', (header) => resolve(header.size)));
      parser.write(await headerBlock(size));
      expect(await seen).toBe(size);
      parser.destroy();
    } finally {
      await work.remove();
    }
  });
});

describe('archive entry names', () => {
  const HEX = 'b'.repeat(64);
  it.each([
    ['blobs/sha256-' + HEX, 'file', 'blob'],
    ['./blobs/sha256-' + HEX, 'file', 'blob'],
    ['manifests/registry.ollama.ai/library/tiny/latest', 'file', 'manifest'],
    ['manifests/host:5000/ns/m/t', 'file', 'manifest'],
    ['manifests/hf.co/', 'directory', 'directory'],
    ['./', 'directory', 'directory'],
  ])('accepts %s (%s)', (name, type, kind) => {
    expect(classifyEntry(name, type).kind).toBe(kind);
  });

  it.each([
    ['../blobs/sha256-' + HEX, 'file', /path through \.\./],
    ['blobs/../../etc/passwd', 'file', /path through \.\./],
    ['/blobs/sha256-' + HEX, 'file', /absolute path/],
    ['blobs/sha256-' + HEX, 'symlink', /a link/],
    ['blobs/sha256-' + HEX, 'link', /a link/],
    ['blobs/sha256-' + HEX, 'fifo', /fifo entry/],
    ['blobs/sha256-' + HEX.toUpperCase(), 'file', /not a blob file name/],
    ['blobs/sha256-' + HEX + '-partial', 'file', /not a blob file name/],
    ['blobs/x/sha256-' + HEX, 'file', /not a blob file name/],
    ['.ollama-push/sha256-' + HEX + '/data', 'file', /outside manifests\/ and blobs\//],
    ['id_ed25519', 'file', /outside manifests\/ and blobs\//],
    ['manifests/registry.ollama.ai/library/tiny', 'file', /not at manifests\/<host>/],
    ['manifests/registry.ollama.ai/library/ti ny/latest', 'file', /not a model name/],
    ['manifests/registry.ollama.ai/library/tiny/.hidden', 'file', /not a model name/],
    ['manifests//library/tiny/latest', 'file', /empty or "\." path segment/],
    ['blobs/sha256-' + HEX + '/', 'directory', /a directory where a file belongs/],
  ])('refuses %s (%s)', (name, type, why) => {
    expect(() => classifyEntry(name, type)).toThrow(why);
    try {
      classifyEntry(name, type);
    } catch (error) {
      expect((error as { exitCode: number }).exitCode).toBe(2);
    }
  });
});

describe('import', () => {
  let work: { path: string; remove: () => Promise<void> };
  let local: string;
  let remote: string;
  let archive: string;
  beforeEach(async () => {
    work = await tempDir();
    local = await copyFixtureStore(work.path);
    remote = join(work.path, 'remote');
    await mkdir(remote);
    archive = join(work.path, 'models.tar');
    const exported = await runCli(['export', ...MODELS, '--models-dir', local, '-o', archive]);
    expect(exported.code, exported.stderr).toBe(0);
  });
  afterEach(() => work.remove());

  const importJson = async (args: string[], input?: Buffer) => {
    const result = await runCli(['import', ...args, '--remote-path', remote, '--json'], input ? { input } : {});
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as { models: { name: string; status: string }[]; blobs: { status: string }[]; bytesSent: number };
  };

  it('sends a file to a local destination, then finds it all there', async () => {
    const first = await importJson([archive]);
    expect(first.models.map((m) => m.status)).toEqual(['published', 'published', 'published']);
    expect(first.blobs.every((b) => b.status === 'sent')).toBe(true);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([GGUF, TINY, Q2].sort());
    expect(await readdir(join(remote, '.ollama-push'))).toEqual([]);

    const again = await importJson([archive]);
    expect(again.bytesSent).toBe(0);
    expect(again.blobs.every((b) => b.status === 'present')).toBe(true);
    expect(again.models.map((m) => m.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });

  it('reads the archive from stdin', async () => {
    const result = await importJson(['-'], await readFile(archive));
    expect(result.models).toHaveLength(3);
    expect((await checkOllamaStore(remote)).models).toEqual([GGUF, TINY, Q2].sort());
  });

  it('reads what export writes to stdout, through a pipe', async () => {
    const exported = await runCliBinary(['export', 'tiny', '--models-dir', local, '-o', '-']);
    expect(exported.code, exported.stderr).toBe(0);
    const result = await runCli(['import', '-', '--remote-path', join(remote, 'fresh'), '--mkdir'], { input: exported.stdout });
    expect(result.code, result.stderr).toBe(0);
    expect(await checkOllamaStore(join(remote, 'fresh'))).toMatchObject({ models: [TINY], problems: [] });
  });

  it('publishes nothing from an archive cut in the middle of a blob, and resumes from the whole one', async () => {
    const bytes = await readFile(archive);
    const sizes = new Map<string, number>();
    for (const file of await readdir(join(local, 'blobs'))) sizes.set(file, (await readFile(join(local, 'blobs', file))).length);
    const [bigName] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
    const bigAt = bytes.indexOf(await readFile(join(local, 'blobs', bigName)));
    expect(bigAt).toBeGreaterThan(0);
    const cut = join(work.path, 'cut.tar');
    await writeFile(cut, bytes.subarray(0, bigAt + 1000));

    const truncated = await runCli(['import', cut, '--remote-path', remote]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/cut short or damaged.*nothing was published/);
    const report = await checkOllamaStore(remote, { allowUnreferenced: true });
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([]);
    expect(report.blobs).not.toContain(bigName.slice(7));

    const whole = await importJson([archive]);
    expect(whole.models).toHaveLength(3);
    expect(whole.blobs.filter((b) => b.status === 'present').length).toBeGreaterThan(0);
    expect(await checkOllamaStore(remote)).toMatchObject({ problems: [] });
  });

  it('refuses an archive that ends without its end-of-archive blocks (cut between entries)', async () => {
    const bytes = await readFile(archive);
    const cut = join(work.path, 'noend.tar');
    await writeFile(cut, bytes.subarray(0, bytes.indexOf(Buffer.from('manifests/'))));
    const result = await runCli(['import', cut, '--remote-path', remote]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cut short.*nothing was published/);
    expect((await checkOllamaStore(remote, { allowUnreferenced: true })).models).toEqual([]);
  });

  it('refuses an entry with ../ : exit 2, nothing written outside, nothing published', async () => {
    const blobName = (await readdir(join(local, 'blobs')))[0]!;
    const tinyManifest = 'manifests/registry.ollama.ai/library/tiny/latest';
    const evil = await buildTar([
      { name: `blobs/${blobName}`, data: await readFile(join(local, 'blobs', blobName)) },
      { name: '../escaped', data: Buffer.from('owned') },
      { name: tinyManifest, data: await readFile(join(local, tinyManifest)) },
    ]);
    const path = join(remote, 'evil.tar');
    await writeFile(path, evil);
    const result = await runCli(['import', path, '--remote-path', join(remote, 'models'), '--mkdir']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^ollama-push: refusing the archive: entry "\.\.\/escaped" is a path through \.\.; nothing was published$/);
    expect(existsSync(join(remote, 'escaped'))).toBe(false);
    expect(existsSync(join(work.path, 'escaped'))).toBe(false);
    expect((await checkOllamaStore(join(remote, 'models'), { allowUnreferenced: true })).models).toEqual([]);
  });

  it.each([
    ['a symlink', { name: 'blobs/sha256-' + 'c'.repeat(64), type: 'symlink' as const, linkname: '/etc/passwd' }, /is a link/],
    ['an absolute path', { name: '/tmp/evil', data: Buffer.from('x') }, /is an absolute path/],
    ['a stray file', { name: 'notes.txt', data: Buffer.from('x') }, /outside manifests\/ and blobs\//],
    ['a bad model name', { name: 'manifests/registry.ollama.ai/library/bad name/latest', data: Buffer.from('{}') }, /not a model name/],
    ['an invalid manifest', { name: 'manifests/registry.ollama.ai/library/tiny/latest', data: Buffer.from('{"schemaVersion":1}') }, /not a valid manifest/],
  ])('refuses %s with exit 2', async (_, entry, why) => {
    const path = join(work.path, 'bad.tar');
    await writeFile(path, await buildTar([entry]));
    const result = await runCli(['import', path, '--remote-path', remote]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(why);
    expect(result.stderr.trim().split('\n')).toHaveLength(2); // "destination ..." and the error
    expect((await checkOllamaStore(remote, { allowUnreferenced: true })).models).toEqual([]);
  });

  it('does not publish a model whose blob was tampered with, and names the blob', async () => {
    const manifest = JSON.parse(await readFile(join(local, 'manifests/registry.ollama.ai/library/tiny/latest'), 'utf8'));
    const big = [...manifest.layers].sort((a: { size: number }, b: { size: number }) => b.size - a.size)[0].digest.slice(7);
    const bytes = await readFile(archive);
    const content = await readFile(join(local, 'blobs', `sha256-${big}`));
    const at = bytes.indexOf(content);
    bytes[at + (content.length >> 1)] ^= 0xff; // same size, wrong content under the digest's name
    const tampered = join(work.path, 'tampered.tar');
    await writeFile(tampered, bytes);

    const result = await runCli(['import', tampered, '--remote-path', remote]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(`^ollama-push: archive entry blobs/sha256-${big} does not match its digest .*; not published: tiny:latest$`),
    );
    const report = await checkOllamaStore(remote, { allowUnreferenced: true });
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([GGUF, Q2].sort()); // the models that do not use it
    expect(report.blobs).not.toContain(big);
    expect(createHash('sha256').update(content).digest('hex')).toBe(big);
  });

  it('publishes a manifest whose blobs are already on the destination, and names a blob that is nowhere', async () => {
    const tinyManifest = 'manifests/registry.ollama.ai/library/tiny/latest';
    const manifestOnly = join(work.path, 'manifest-only.tar');
    await writeFile(manifestOnly, await buildTar([{ name: tinyManifest, data: await readFile(join(local, tinyManifest)) }]));
    const missing = await runCli(['import', manifestOnly, '--remote-path', remote]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/blob sha256:[0-9a-f]{64} of tiny:latest is neither in the archive nor on .*; not published: tiny:latest$/m);
    expect((await checkOllamaStore(remote, { allowUnreferenced: true })).models).toEqual([]);

    const push = await runCli(['tiny', '--models-dir', local, '--remote-path', remote]);
    expect(push.code, push.stderr).toBe(0);
    await writeFile(join(remote, tinyManifest), '{"schemaVersion":2,"config":{},"layers":[]}'); // another version under the name
    const result = await importJson([manifestOnly]);
    expect(result.bytesSent).toBe(0);
    expect(result.models).toEqual([expect.objectContaining({ name: 'tiny:latest', status: 'published' })]);
    expect(await readFile(join(remote, tinyManifest))).toEqual(await readFile(join(local, tinyManifest)));
  });

  it('refuses what is not a tar', async () => {
    const gz = join(work.path, 'models.tar.gz');
    await execFileAsync('sh', ['-c', 'gzip -c "$1" > "$2"', 'sh', archive, gz]);
    const result = await runCli(['import', gz, '--remote-path', remote]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is not a tar archive \(compressed\?/);
    const empty = await runCli(['import', '-', '--remote-path', remote], { input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/stdin is empty/);
  });
});

describe.runIf(sshdAvailable())('import over SSH', () => {
  let sshd: TestSshd;
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(() => sshd?.stop());
  beforeEach(async () => {
    work = await tempDir();
  });
  afterEach(() => work.remove());

  it('sends an archive (a file, then stdin) to an SSH destination', async () => {
    const local = await copyFixtureStore(work.path);
    const archive = join(work.path, 'models.tar');
    expect((await runCli(['export', ...MODELS, '--models-dir', local, '-o', archive])).code).toBe(0);
    const remote = join(work.path, 'remote');
    const result = await runCli(['import', archive, '--host', sshd.alias, '--remote-path', remote, '--mkdir'], { env: sshd.env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/imported .* on ssh homelab-1/);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual([GGUF, TINY, Q2].sort());

    const other = join(work.path, 'remote-2');
    const piped = await runCli(['import', '-', '--host', sshd.alias, '--remote-path', other, '--mkdir', '--json'], {
      env: sshd.env,
      input: await readFile(archive),
    });
    expect(piped.code, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout).models).toHaveLength(3);
    expect(await checkOllamaStore(other)).toMatchObject({ problems: [] });
  });
});
