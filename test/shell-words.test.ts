import { describe, expect, it } from 'vitest';
import { splitShellWords } from '../src/transport/shell-words.js';

describe('splitShellWords', () => {
  it.each([
    ['ssh homelab-1', ['ssh', 'homelab-1']],
    ['  ssh   -p 2222  host ', ['ssh', '-p', '2222', 'host']],
    [`ssh -o 'ProxyCommand=ssh -W %h:%p jump' host`, ['ssh', '-o', 'ProxyCommand=ssh -W %h:%p jump', 'host']],
    ['kubectl exec -i -n default ollama-models-store-0 -- sh -c', ['kubectl', 'exec', '-i', '-n', 'default', 'ollama-models-store-0', '--', 'sh', '-c']],
    [`a "b c" d\\ e`, ['a', 'b c', 'd e']],
    [`"x\\"y" 'it'\\''s'`, ['x"y', "it's"]],
    [`a ''`, ['a', '']],
  ])('%s', (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  it('refuses unterminated quotes', () => {
    expect(() => splitShellWords(`ssh 'host`)).toThrow(/unterminated/);
  });
});
