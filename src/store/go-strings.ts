// Go's unicode.IsSpace set. JavaScript's trim() differs: it also strips U+FEFF and keeps U+0085.
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const SURROUNDING_SPACE = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, 'g');

/** Go's strings.TrimSpace, which Ollama applies to model names and environment variables. */
export function goTrimSpace(text: string): string {
  return text.replace(SURROUNDING_SPACE, '');
}
