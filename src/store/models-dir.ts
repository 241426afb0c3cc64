import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { goTrimSpace } from './go-strings.js';

const SYSTEM_SERVICE_MODELS = '/usr/share/ollama/.ollama/models';

/** `--models-dir`, else `$OLLAMA_MODELS`, else `~/.ollama/models`, else the Linux service install's. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = ollamaVar(env.OLLAMA_MODELS);
  if (configured) return configured;
  const user = join(env.HOME ?? homedir(), '.ollama', 'models');
  if (existsSync(user) || !existsSync(SYSTEM_SERVICE_MODELS)) return user;
  return SYSTEM_SERVICE_MODELS;
}

/** Ollama's envconfig.Var: spaces trimmed, then quotes (`OLLAMA_MODELS="/srv/models"` in a unit file). */
function ollamaVar(value = ''): string {
  return goTrimSpace(value).replace(/^["']+|["']+$/g, '');
}
