// Runs the real promtool from the repository root; a failure carries promtool's own report.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findPromBinary } from './prom-binaries.ts';

const run = promisify(execFile);
const REPO_ROOT = join(import.meta.dirname, '..', '..');

export async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(findPromBinary('promtool')!, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}`);
  }
}
