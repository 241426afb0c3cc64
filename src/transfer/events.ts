import type { Descriptor } from '../store/manifest.js';

/** One blob of a plan, as a reporter shows it. */
export interface PlannedBlob {
  readonly blob: Descriptor;
  /** Already on the destination: nothing to send. */
  readonly present: boolean;
  /** Bytes still to send (less than the size when an earlier run staged part of it). */
  readonly toSend: number;
}

/** What the transfer core reports; it never writes to the terminal itself. */
export type PushEvent =
  | { type: 'plan'; blobs: readonly PlannedBlob[]; location: string; ollamaHome: boolean }
  | { type: 'blob-start'; blob: Descriptor; resumedFrom: number }
  | { type: 'bytes'; hex: string; bytes: number }
  | { type: 'blob-done'; blob: Descriptor }
  | { type: 'blob-wait'; blob: Descriptor; owner: string }
  | { type: 'model-published'; model: string; unchanged: boolean }
  | { type: 'retry'; attempt: number; delayMs: number; reason: string }
  | { type: 'warning'; message: string };

export type PushEventListener = (event: PushEvent) => void;
