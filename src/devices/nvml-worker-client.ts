// Starts the NVML worker thread and exchanges requests with it, each bounded by a deadline. A worker
// stuck inside a driver call cannot be interrupted; terminate() detaches it (its thread ends when the
// call returns) so a fresh one can take over.
import { Worker } from 'node:worker_threads';
import { SharedSample, type Envelope, type WorkerRequest } from './nvml-protocol.ts';

export type Answer<R> = { id: number; reply: R } | { id: number; reply?: undefined };

// Built, the worker is dist/nvml-worker.js next to this module (scripts/build.ts). From the TypeScript
// sources (vitest, tsx scripts) tsx's API compiles it inside the thread, where the parent's loader
// flags are not the same.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './nvml-worker.ts' : './nvml-worker.js', import.meta.url);
/** Resolved only from the sources: the built package has no tsx. */
const sourceBootstrap = () => `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => tsx.tsImport(${JSON.stringify(WORKER_URL.href)}, ${JSON.stringify(import.meta.url)}))`;

export class NvmlWorker {
  readonly sample = new SharedSample();
  readonly #worker: Worker;
  readonly #pending = new Map<number, (reply: unknown) => void>();
  #nextId = 1;
  #exited = false;
  /** Why the thread died on its own (a crash in the worker's JavaScript), if it did. */
  failure: Error | undefined;

  constructor() {
    const workerData = { sampleBuffer: this.sample.buffer };
    this.#worker = FROM_SOURCE ? new Worker(sourceBootstrap(), { eval: true, workerData }) : new Worker(WORKER_URL, { workerData });
    // A detached or idle worker must not keep the process alive.
    this.#worker.unref();
    this.#worker.on('message', (message: { id: number }) => this.#pending.get(message.id)?.(message));
    this.#worker.on('error', (error) => {
      this.failure = error;
      this.terminate();
    });
    this.#worker.on('exit', () => this.terminate());
  }

  /** Sends one request; the answer has no reply when `deadlineMs` (performance.now() clock) passed first. */
  request<R>(request: WorkerRequest, deadlineMs: number): Promise<Answer<R>> {
    const id = this.#nextId++;
    if (this.#exited) return Promise.resolve({ id });
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), Math.max(0, deadlineMs - performance.now()));
      const finish = (reply: unknown): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(reply === undefined ? { id } : { id, reply: reply as R });
      };
      this.#pending.set(id, finish);
      this.#worker.postMessage({ id, ...request } satisfies Envelope<WorkerRequest>);
    });
  }

  /** Answers every pending request as timed out and lets the thread go. */
  terminate(): void {
    if (this.#exited) return;
    this.#exited = true;
    for (const finish of [...this.#pending.values()]) finish(undefined);
    void this.#worker.terminate();
  }
}
