// The integration suite builder (the idea of Kepler's test/e2e/suite_test.go): one call declares the
// host (a sysfs fixture tree, optionally NVML boards through the C double), starts the real daemon on it
// before the tests and tears everything down after them, so a test file states only what it checks.
import { afterAll, beforeAll } from 'vitest';
import { startTestDaemon, type TestDaemon } from './daemon.ts';
import { nvmlDouble, type FakeNvmlScript, type NvmlDouble } from './nvml-double.ts';
import { createSysfsFixture, type SysfsFixture } from './sysfs-fixture.ts';

export interface DaemonSuiteOptions {
  /** Builds the host tree before the daemon starts (RAPL zones, hwmon chips, amdgpu boards). */
  host?: (fixture: SysfsFixture) => void;
  /** NVML boards; the daemon then loads the double through the same FFI path as libnvidia-ml.so.1. */
  nvml?: FakeNvmlScript;
  /** Config keys on top of the test defaults (loopback ports, 200 ms interval, no attribution lag). */
  flags?: Record<string, unknown>;
}

export interface DaemonSuite {
  readonly fixture: SysfsFixture;
  readonly daemon: TestDaemon;
  /** Present when the suite declared NVML boards. */
  readonly nvml: NvmlDouble | undefined;
}

/** Registers beforeAll/afterAll in the calling describe block; the returned parts exist inside its tests. */
export function daemonSuite(options: DaemonSuiteOptions = {}): DaemonSuite {
  let fixture: SysfsFixture | undefined;
  let daemon: TestDaemon | undefined;
  let nvml: NvmlDouble | undefined;

  beforeAll(async () => {
    fixture = createSysfsFixture();
    options.host?.(fixture);
    nvml = options.nvml ? nvmlDouble(options.nvml) : undefined;
    daemon = await startTestDaemon({ hostRoot: fixture.root, ...(nvml ? { nvmlLibrary: nvml.libraryPath } : {}), ...options.flags });
  });

  afterAll(async () => {
    await daemon?.close();
    fixture?.remove();
  });

  const started = <T>(part: T | undefined, name: string): T => {
    if (part === undefined) throw new Error(`the suite's ${name} exists only inside its tests (after beforeAll)`);
    return part;
  };
  return {
    get fixture() {
      return started(fixture, 'fixture');
    },
    get daemon() {
      return started(daemon, 'daemon');
    },
    get nvml() {
      return nvml;
    },
  };
}
