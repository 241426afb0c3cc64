import type { BlobPlan } from './plan.js';

/** What the transfer core reports; it never writes to the terminal itself. */
export type PushEvent =
  | { type: 'plan'; blobs: readonly BlobPlan[]; modelsDir: string; ollamaHome: boolean }
  | { type: 'blob-start'; blob: BlobPlan; resumedFrom: number }
  | { type: 'bytes'; hex: string; bytes: number }
  | { type: 'blob-done'; blob: BlobPlan }
  | { type: 'blob-wait'; blob: BlobPlan; owner: string }
  | { type: 'model-published'; model: string; unchanged: boolean }
  | { type: 'retry'; attempt: number; delayMs: number; reason: string }
  | { type: 'warning'; message: string };

export type PushEventListener = (event: PushEvent) => void;
