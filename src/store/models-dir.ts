import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const SYSTEM_SERVICE_MODELS = '/usr/share/ollama/.ollama/models';

/** `--models-dir`, else `$OLLAMA_MODELS`, else `~/.ollama/models`, else the Linux service install's. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OLLAMA_MODELS) return env.OLLAMA_MODELS;
  const user = join(env.HOME ?? homedir(), '.ollama', 'models');
  if (existsSync(user) || !existsSync(SYSTEM_SERVICE_MODELS)) return user;
  return SYSTEM_SERVICE_MODELS;
}
