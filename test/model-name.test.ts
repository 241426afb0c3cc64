import { describe, expect, it } from 'vitest';
import { displayName, parseModelName } from '../src/store/model-name.js';

describe('parseModelName follows Ollama', () => {
  it.each([
    ['qwen3:4b', 'registry.ollama.ai/library/qwen3/4b', 'qwen3:4b'],
    ['tiny', 'registry.ollama.ai/library/tiny/latest', 'tiny:latest'],
    ['user/m:t', 'registry.ollama.ai/user/m/t', 'user/m:t'],
    ['hf.co/org/Repo-GGUF:Q4_K_M', 'hf.co/org/Repo-GGUF/Q4_K_M', 'hf.co/org/Repo-GGUF:Q4_K_M'],
    ['host:5000/ns/m:t', 'host:5000/ns/m/t', 'host:5000/ns/m:t'],
    ['host:5000/ns/m', 'host:5000/ns/m/latest', 'host:5000/ns/m:latest'],
    ['llama3.2:1b-instruct-q4_K_M', 'registry.ollama.ai/library/llama3.2/1b-instruct-q4_K_M', 'llama3.2:1b-instruct-q4_K_M'],
    ['_x/_y:_z', 'registry.ollama.ai/_x/_y/_z', '_x/_y:_z'],
  ])('%s -> %s', (text, path, shown) => {
    const name = parseModelName(text);
    expect([name.host, name.namespace, name.model, name.tag].join('/')).toBe(path);
    expect(displayName(name)).toBe(shown);
  });

  it.each([
    [''],
    ['a/b/c/d'],
    ['a/b/c/d:t'],
    ['../etc/passwd'],
    ['m:../x'],
    ['.hidden'],
    ['-rf'],
    ['m:'],
    ['ns.with.dots/m'],
    ['m:t/x'],
    ['has space'],
    ['m:t:'],
    [`${'a'.repeat(81)}`],
    ['model:' + 't'.repeat(81)],
  ])('rejects %j', (text) => {
    expect(() => parseModelName(text)).toThrow(/invalid model name/);
  });
});
