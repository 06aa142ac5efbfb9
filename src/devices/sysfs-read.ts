// Small readers for sysfs and procfs files under the host root, shared by the sysfs-backed sources.
// Every failure is classified once here so `hw.errors{error.type}` and the fix text agree across sources.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Reads a whole text file. Injectable because tests run as root, and root never gets a real
 * `EACCES` from chmod: a test reader throws the same NodeJS error object the kernel would cause.
 */
export type FileReader = (absolutePath: string) => Promise<string>;

export const readTextFile: FileReader = (absolutePath) => readFile(absolutePath, 'utf8');

/** `<hostRoot>/<relativePath>`; relative paths are written without a leading slash (`sys/class/powercap`). */
export function hostPath(hostRoot: string, relativePath: string): string {
  return join(hostRoot, relativePath);
}

/** A read that failed, in the shape of a DeviceFailure minus the device id. */
export interface ReadProblem {
  /** `permission_denied`, `not_found`, `invalid_value` or `io_error`. */
  errorType: string;
  message: string;
  fix?: string;
}

/** Raised for a file that was read but does not hold what it should (an empty or non-numeric counter). */
class InvalidValueError extends Error {}

/**
 * Turns a read error into a low-cardinality error type and a message naming the file.
 * `permissionFix` is the source's own advice for EACCES (RAPL and hwmon differ).
 */
export function classifyReadError(error: unknown, absolutePath: string, permissionFix: string): ReadProblem {
  if (error instanceof InvalidValueError) {
    return { errorType: 'invalid_value', message: `${absolutePath}: ${error.message}` };
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return { errorType: 'permission_denied', message: `${absolutePath}: permission denied`, fix: permissionFix };
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENODEV':
    case 'ENXIO':
      // ENODEV/ENXIO: the driver behind the file went away (module unloaded, device unplugged).
      return { errorType: 'not_found', message: `${absolutePath}: no longer present (${code})` };
    default:
      return { errorType: 'io_error', message: `${absolutePath}: ${(error as Error | undefined)?.message ?? String(error)}` };
  }
}

/** Reads a file holding one trimmed line of text. */
export async function readTrimmed(reader: FileReader, absolutePath: string): Promise<string> {
  return (await reader(absolutePath)).trim();
}

/**
 * Reads a file holding one non-negative integer (sysfs counters and sizes).
 * RAPL ranges reach ~2.6e11, well inside Number's exact-integer range.
 */
export async function readUnsigned(reader: FileReader, absolutePath: string): Promise<number> {
  const text = await readTrimmed(reader, absolutePath);
  if (!/^\d+$/.test(text)) throw new InvalidValueError(`expected a non-negative integer, got '${text.slice(0, 40)}'`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new InvalidValueError(`integer ${text} is beyond 2^53`);
  return value;
}

/** Like readUnsigned, but a missing (or unreadable, or malformed) optional file is `undefined`. */
export async function readOptionalUnsigned(reader: FileReader, absolutePath: string): Promise<number | undefined> {
  try {
    return await readUnsigned(reader, absolutePath);
  } catch {
    return undefined;
  }
}

/** Like readTrimmed, but a missing optional file is `undefined`. */
export async function readOptionalTrimmed(reader: FileReader, absolutePath: string): Promise<string | undefined> {
  try {
    return await readTrimmed(reader, absolutePath);
  } catch {
    return undefined;
  }
}
