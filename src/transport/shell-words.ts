import { usageError } from '../errors.js';

/** Splits a command line into words the way sh would (quotes and backslashes; no expansions). */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const add = (s: string) => (word = (word ?? '') + s);
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw usageError(`unterminated ' in ${JSON.stringify(text)}`);
      add(text.slice(i + 1, end));
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1]!)) j++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw usageError(`unterminated " in ${JSON.stringify(text)}`);
      add(s);
      i = j + 1;
    } else if (ch === '\\' && i + 1 < text.length) {
      add(text[i + 1]!);
      i += 2;
    } else {
      add(ch);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
