import { describe, expect, it } from 'vitest';
import { displayName, type ModelName, modelNameFromSegments, parseModelName, sameModelName } from '../src/store/model-name.js';

// Rows marked with their source are taken from Ollama v0.33: types/model/name_test.go (TestParseNameParts,
// TestNameIsValid, TestDisplayShortest, TestParseNameFromFilepath) and internal/modelref/modelref_test.go
// (TestParseRef, TestNormalizePullName), which the API applies to a name before parsing it.
const part80 = '8'.repeat(80);
const part350 = '3'.repeat(350);
const path = (name: ModelName) => [name.host, name.namespace, name.model, name.tag].join('/');

describe('parseModelName follows Ollama', () => {
  it.each([
    // TestParseNameParts
    ['registry.ollama.ai/library/dolphin-mistral:7b-v2.6-dpo-laser-q6_K', 'registry.ollama.ai/library/dolphin-mistral/7b-v2.6-dpo-laser-q6_K', 'dolphin-mistral:7b-v2.6-dpo-laser-q6_K'],
    ['scheme://host:port/namespace/model:tag', 'host:port/namespace/model/tag', 'host:port/namespace/model:tag'],
    ['host/namespace/model:tag', 'host/namespace/model/tag', 'host/namespace/model:tag'],
    ['host:port/namespace/model', 'host:port/namespace/model/latest', 'host:port/namespace/model:latest'],
    ['namespace/model', 'registry.ollama.ai/namespace/model/latest', 'namespace/model:latest'],
    ['model', 'registry.ollama.ai/library/model/latest', 'model:latest'],
    ['h/nn/mm:t', 'h/nn/mm/t', 'h/nn/mm:t'],
    [`${part80}/${part80}/${part80}:${part80}`, [part80, part80, part80, part80].join('/'), `${part80}/${part80}/${part80}:${part80}`],
    [`${part350}/${part80}/${part80}:${part80}`, [part350, part80, part80, part80].join('/'), `${part350}/${part80}/${part80}:${part80}`],
    // TestNameIsValid
    ['_why/_the/_lucky:_stiff', '_why/_the/_lucky/_stiff', '_why/_the/_lucky:_stiff'],
    ['host:https/namespace/model:tag', 'host:https/namespace/model/tag', 'host:https/namespace/model:tag'],
    // The scheme is dropped (ParseNameBare); a scheme with no host leaves the default host (Merge, cmp.Or).
    ['https://registry.ollama.ai/library/qwen3:4b', 'registry.ollama.ai/library/qwen3/4b', 'qwen3:4b'],
    ['http://host:5000/ns/m:t', 'host:5000/ns/m/t', 'host:5000/ns/m:t'],
    ['https:///ns/m', 'registry.ollama.ai/ns/m/latest', 'ns/m:latest'],
    // TestParseRef: surrounding spaces trimmed (strings.TrimSpace), a :local suffix, in any case, dropped.
    ['  qwen3:4b\t\n', 'registry.ollama.ai/library/qwen3/4b', 'qwen3:4b'],
    ['qwen3:8b:local', 'registry.ollama.ai/library/qwen3/8b', 'qwen3:8b'],
    ['qwen3:8b:LOCAL', 'registry.ollama.ai/library/qwen3/8b', 'qwen3:8b'],
    ['qwen3:local', 'registry.ollama.ai/library/qwen3/latest', 'qwen3:latest'],
    ['host:5000/ns/m:t:local', 'host:5000/ns/m/t', 'host:5000/ns/m:t'],
    ['my-cloud-model', 'registry.ollama.ai/library/my-cloud-model/latest', 'my-cloud-model:latest'],
    // TestNormalizePullName: a cloud model's stub is stored under <tag>-cloud, or cloud.
    ['gpt-oss:20b:cloud', 'registry.ollama.ai/library/gpt-oss/20b-cloud', 'gpt-oss:20b-cloud'],
    ['gpt-oss:20b-cloud', 'registry.ollama.ai/library/gpt-oss/20b-cloud', 'gpt-oss:20b-cloud'],
    ['qwen3:cloud', 'registry.ollama.ai/library/qwen3/cloud', 'qwen3:cloud'],
    // Names as ollama list shows them: TestDisplayShortest, which compares the defaults with EqualFold.
    ['registry.ollama.ai/library/model:latest', 'registry.ollama.ai/library/model/latest', 'model:latest'],
    ['registry.ollama.ai/namespace/model:tag', 'registry.ollama.ai/namespace/model/tag', 'namespace/model:tag'],
    ['host/library/model:tag', 'host/library/model/tag', 'host/library/model:tag'],
    ['Registry.Ollama.AI/LIBRARY/Qwen3:4B', 'Registry.Ollama.AI/LIBRARY/Qwen3/4B', 'Qwen3:4B'],
    ['REGISTRY.OLLAMA.AI/Someone/m:t', 'REGISTRY.OLLAMA.AI/Someone/m/t', 'Someone/m:t'],
    // FIELD-NOTES examples
    ['qwen3:4b', 'registry.ollama.ai/library/qwen3/4b', 'qwen3:4b'],
    ['user/m:t', 'registry.ollama.ai/user/m/t', 'user/m:t'],
    ['hf.co/org/Repo-GGUF:Q4_K_M', 'hf.co/org/Repo-GGUF/Q4_K_M', 'hf.co/org/Repo-GGUF:Q4_K_M'],
    ['llama3.2:1b-instruct-q4_K_M', 'registry.ollama.ai/library/llama3.2/1b-instruct-q4_K_M', 'llama3.2:1b-instruct-q4_K_M'],
  ])('%j -> %s, shown as %s', (text, expected, shown) => {
    const name = parseModelName(text);
    expect(path(name)).toBe(expected);
    expect(displayName(name)).toBe(shown);
  });

  it.each([
    // TestNameIsValid: invalid whatever the defaults
    [''],
    ['^'],
    ['mm:'],
    ['n/m:'],
    ['/nn/mm'],
    ['//'],
    ['//mm'],
    ['hh//'],
    ['//mm:@'],
    ['00@'],
    ['@'],
    ['@t'],
    ['m@d'],
    ['-hh/nn/mm:tt'],
    ['hh/-nn/mm:tt'],
    ['hh/nn/-mm:tt'],
    ['hh/nn/mm:-tt'],
    ['host/name:space/model:tag'],
    // TestParseRef: empty after trimming; two source suffixes; a slash stops the -cloud reading
    ['   '],
    ['foo:cloud:local'],
    ['gpt-oss:20b-cloud:local'],
    ['foo:bar-cloud/baz'],
    // more than 3 parts, with or without a scheme; a scheme only before a host
    ['a/b/c/d'],
    ['a/b/c/d:t'],
    ['https://a/b/c/d'],
    ['https://ns/m'],
    // part patterns and lengths (isValidPart), spaces inside a name, digests
    ['../etc/passwd'],
    ['m:../x'],
    ['.hidden'],
    ['-rf'],
    ['ns.with.dots/m'],
    ['m:t/x'],
    ['has space'],
    ['qwen3 :4b'],
    ['qwen3:4b :local'],
    ['m:t:'],
    ['qwén3'],
    ['a'.repeat(81)],
    [`model:${'t'.repeat(81)}`],
    [`${'h'.repeat(351)}/ns/m`],
    [`qwen3@sha256:${'a'.repeat(64)}`],
  ])('rejects %j', (text) => {
    expect(() => parseModelName(text)).toThrow(/invalid model name/);
  });

  it('says why: too many parts, two source suffixes', () => {
    expect(() => parseModelName('https://a/b/c/d')).toThrow(/more than 3 slash-separated parts/);
    expect(() => parseModelName('foo:cloud:local')).toThrow(/use either :local or :cloud, not both/);
  });
});

describe('modelNameFromSegments follows ParseNameFromFilepath', () => {
  it.each<[[string, string, string, string], boolean]>([
    [['host', 'namespace', 'model', 'tag'], true],
    [['host:port', 'namespace', 'model', 'tag'], true],
    [['Registry.Ollama.AI', 'Library', 'Qwen3', 'Latest'], true],
    [['..', '..', 'model', 'tag'], false],
    [['', 'namespace', '.', 'tag'], false],
    [['.', '.', '.', '.'], false],
    // Taken as they are on disk: no trimming, no :local, no scheme
    [['registry.ollama.ai', 'library', 'qwen3', 'latest '], false],
    [['registry.ollama.ai', 'library', 'qwen3', ' latest'], false],
    [['registry.ollama.ai', 'library', 'qwen3', '.latest.swp'], false],
    [['registry.ollama.ai', 'library', 'qwen3', 'local'], true],
  ])('%j: %s', (segments, valid) => {
    const name = modelNameFromSegments(...segments);
    expect(name !== undefined).toBe(valid);
    if (name) expect(path(name)).toBe(segments.join('/'));
  });
});

describe('sameModelName compares every part case-insensitively (Name.EqualFold)', () => {
  it.each([
    ['qwen3:4b', 'QWEN3:4B', true],
    ['qwen3', 'Registry.Ollama.AI/Library/Qwen3:Latest', true],
    ['host:5000/ns/m:t', 'HOST:5000/NS/M:T', true],
    ['qwen3:4b', 'qwen3:8b', false],
    ['ns/m', 'other/m', false],
  ])('%s ~ %s: %s', (a, b, same) => {
    expect(sameModelName(parseModelName(a), parseModelName(b))).toBe(same);
  });
});
