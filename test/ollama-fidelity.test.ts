// The local store read as Ollama v0.33 reads it. Each case cites the Ollama source it comes from:
// manifest/manifest.go (Manifests: glob `manifests/*/*/*/*`, os.Stat each match, skip a path that
// ParseNameFromFilepath refuses; Manifest.Size), server/routes.go getExistingName (names matched against
// the disk with EqualFold), envconfig/config.go Var (OLLAMA_MODELS trimmed of spaces, then quotes).
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModels } from '../src/cli/models.js';
import { LocalStore } from '../src/store/local-store.js';
import { displayName } from '../src/store/model-name.js';
import { defaultModelsDir } from '../src/store/models-dir.js';
import { copyFixtureStore, runCli, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

const LIBRARY = ['manifests', 'registry.ollama.ai', 'library'];
const TINY_MODEL_LAYER = 3158073;

/** The environment without OLLAMA_MODELS or OLLAMA_PUSH_* variables, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OLLAMA_PUSH') && key !== 'OLLAMA_MODELS'));
  return { ...env, ...extra };
}

interface ListedModel {
  readonly name: string;
  readonly size: number;
}

async function listModels(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; models: ListedModel[] }> {
  const result = await runCli(['list', '--json'], { env: cleanEnv(env) });
  return { code: result.code, stderr: result.stderr, models: result.code === 0 ? JSON.parse(result.stdout).models : [] };
}

describe('the local store as Ollama sees it', () => {
  let work: { path: string; remove: () => Promise<void> };
  let store: string;
  let tinyManifest: Buffer;
  const at = (...segments: string[]) => join(store, ...segments);

  beforeAll(async () => {
    work = await tempDir();
    store = await copyFixtureStore(work.path);
    tinyManifest = await readFile(at(...LIBRARY, 'tiny', 'latest'));
    const elsewhere = join(work.path, 'elsewhere');
    await mkdir(join(elsewhere, 'sub'), { recursive: true });
    await writeFile(join(elsewhere, 'manifest'), tinyManifest);

    // Models through links: Glob reads linked directories and os.Stat follows a linked file.
    await mkdir(at(...LIBRARY, 'linked'));
    await symlink(join(elsewhere, 'manifest'), at(...LIBRARY, 'linked', 'latest'));
    await symlink(at(...LIBRARY, 'tiny'), at(...LIBRARY, 'alias'));
    await symlink(at('manifests', 'registry.ollama.ai', 'someone'), at('manifests', 'registry.ollama.ai', 'team'));

    // Not models: a path ParseNameFromFilepath refuses, a dangling link, a directory at tag depth.
    await writeFile(at(...LIBRARY, 'tiny', 'latest '), tinyManifest);
    await writeFile(at(...LIBRARY, 'tiny', '.latest.swp'), 'x');
    await symlink(join(elsewhere, 'gone'), at(...LIBRARY, 'tiny', 'gone'));
    await mkdir(at(...LIBRARY, 'tiny', 'subdir'));
    await symlink(join(elsewhere, 'sub'), at(...LIBRARY, 'tiny', 'linkdir'));

    // A model spelled in other cases on disk, and a manifest listing one digest twice.
    await mkdir(at('manifests', 'Registry.Ollama.AI', 'Library', 'Mixed'), { recursive: true });
    await writeFile(at('manifests', 'Registry.Ollama.AI', 'Library', 'Mixed', 'Case'), tinyManifest);
    const twice = JSON.parse(tinyManifest.toString());
    twice.layers.push(twice.layers[0]);
    await mkdir(at(...LIBRARY, 'twice'));
    await writeFile(at(...LIBRARY, 'twice', 'latest'), JSON.stringify(twice));
  });
  afterAll(() => work.remove());

  const expectedNames = [
    'alias:latest',
    'alias:q2',
    'hf.co/org/Tiny-GGUF:Q4_K_M',
    'linked:latest',
    'Mixed:Case',
    'someone/vision:latest',
    'team/vision:latest',
    'tiny:latest',
    'tiny:q2',
    'twice:latest',
  ];

  it('lists linked models and skips what Ollama skips', async () => {
    const names = (await new LocalStore(store).listNames()).map(displayName);
    expect([...names].sort()).toEqual([...expectedNames].sort());
  });

  it('list: the same models, no warning, no raw ENOENT; SIZE counts a repeated digest as ollama list does', async () => {
    const listed = await listModels({ OLLAMA_PUSH_MODELS_DIR: store });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe('');
    expect(listed.models.map((m) => m.name).sort()).toEqual([...expectedNames].sort());
    const size = (name: string) => listed.models.find((m) => m.name === name)?.size;
    expect(size('twice:latest')).toBe(size('tiny:latest')! + TINY_MODEL_LAYER);
    expect(size('linked:latest')).toBe(size('tiny:latest'));
  });

  it.each([
    ['linked', 'linked:latest'],
    ['alias:q2', 'alias:q2'],
    ['team/vision', 'team/vision:latest'],
    // Any case, as getExistingName matches each part with EqualFold; the name keeps the disk's spelling.
    ['mixed:case', 'Mixed:Case'],
    ['registry.ollama.ai/library/MIXED:CASE', 'Mixed:Case'],
    ['TINY:Q2', 'tiny:q2'],
    ['HF.CO/ORG/tiny-gguf:q4_k_m', 'hf.co/org/Tiny-GGUF:Q4_K_M'],
    ['Someone/Vision', 'someone/vision:latest'],
    // Names as the API takes them: trimmed, a scheme dropped, :local read.
    ['  tiny  ', 'tiny:latest'],
    ['https://registry.ollama.ai/library/tiny:latest', 'tiny:latest'],
    ['http://registry.ollama.ai/someone/vision', 'someone/vision:latest'],
    ['tiny:q2:local', 'tiny:q2'],
    ['https://hf.co/org/Tiny-GGUF:Q4_K_M:local', 'hf.co/org/Tiny-GGUF:Q4_K_M'],
  ])('finds %j as %s', async (given, found) => {
    const [model] = await readModels(new LocalStore(store), [given]);
    expect(displayName(model!.name)).toBe(found);
  });

  it('reads the exact spelling when two case variants are on disk', async () => {
    const q2 = await readFile(at(...LIBRARY, 'tiny', 'q2'));
    await mkdir(at(...LIBRARY, 'TINY'));
    await writeFile(at(...LIBRARY, 'TINY', 'latest'), q2);
    try {
      const [upper, lower] = await readModels(new LocalStore(store), ['TINY', 'tiny']);
      expect(upper!.manifest.bytes).toEqual(q2);
      expect(lower!.manifest.bytes).toEqual(tinyManifest);
    } finally {
      await rm(at(...LIBRARY, 'TINY'), { recursive: true });
    }
  });

  it('does not find a tag file Ollama refuses, nor follow a dangling link', async () => {
    await expect(readModels(new LocalStore(store), ['tiny:gone'])).rejects.toThrow(/model tiny:gone not found/);
    await expect(readModels(new LocalStore(store), ['tiny:linkdir'])).rejects.toThrow(/not found/);
  });

  it('pushes models reached through links and named with a scheme or :local, as plain files', async () => {
    const remote = join(work.path, 'remote');
    const pushed = await runCli(['linked', 'https://registry.ollama.ai/library/alias:q2:local', '--models-dir', store, '--remote-path', remote, '--mkdir', '--quiet'], {
      env: cleanEnv(),
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    const report = await checkOllamaStore(remote);
    expect(report.problems).toEqual([]);
    expect(report.models).toEqual(['registry.ollama.ai/library/alias:q2', 'registry.ollama.ai/library/linked:latest']);
    expect(await readFile(join(remote, ...LIBRARY, 'linked', 'latest'))).toEqual(tinyManifest);
  });
});

describe('OLLAMA_MODELS is read as envconfig.Var reads it', () => {
  let home: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    home = await tempDir();
    await mkdir(join(home.path, '.ollama', 'models'), { recursive: true });
  });
  afterAll(() => home.remove());

  it.each([
    ['/srv/models', '/srv/models'],
    ['  /srv/models\t', '/srv/models'],
    ['"/srv/models"', '/srv/models'],
    ["'/srv/models'", '/srv/models'],
    [' "/srv/my models" ', '/srv/my models'],
    // Spaces go first, then quotes: spaces inside the quotes stay.
    ['" /srv/models "', ' /srv/models '],
    ['""', undefined],
    ['  ', undefined],
  ])('%j -> %j', (value, expected) => {
    expect(defaultModelsDir({ HOME: home.path, OLLAMA_MODELS: value })).toBe(expected ?? join(home.path, '.ollama', 'models'));
  });

  it('list finds the store through a quoted OLLAMA_MODELS with spaces around it', async () => {
    const work = await tempDir();
    try {
      const store = await copyFixtureStore(work.path);
      const listed = await listModels({ OLLAMA_MODELS: ` "${store}" ` });
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.models.map((m) => m.name)).toContain('tiny:latest');
    } finally {
      await work.remove();
    }
  });
});
