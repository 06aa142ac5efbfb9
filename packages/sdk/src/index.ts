// footprint/sdk: tell the footprint daemon what a Node workload is doing.
//
//   await withWorkload({ model: 'llama-3-8b', job: 'finetune-42', phase: 'training' }, async () => train());
//
// The attributes go into the active OTel context's baggage, so every instrumented HTTP client
// inside `fn` carries them to downstream services (whose BaggageSpanProcessor copies them to
// spans), and a window is held open with the daemon while `fn` runs, so the energy spent between
// requests (a training step, a checkpoint) is attributed too.
export { withWorkload, type WorkloadAttributes, type WithWorkloadOptions } from './with-workload.ts';
