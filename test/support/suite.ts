// The integration suite builder (the idea of Kepler's test/e2e/suite_test.go): one call declares the
// host (a sysfs fixture tree, optionally NVML boards through the C double), starts the real daemon on it
// (and, when asked, a real Prometheus scraping it) before the tests and tears everything down after
// them, so a test file states only what it checks.
//
// Order: the suite's beforeAll runs after the describe block's earlier beforeAll hooks and before its
// later ones (vitest runs before-hooks in order and after-hooks in reverse), so a loopback double the
// daemon's flags name starts in a hook registered before the suite, and one that needs the daemon's
// port in a hook registered after it; each is stopped on the right side of the daemon.
import { afterAll, beforeAll } from 'vitest';
import { startTestDaemon, type TestDaemon } from './daemon.ts';
import { nvmlDouble, type FakeNvmlScript, type NvmlDouble } from './nvml-double.ts';
import { startPrometheus, type RunningPrometheus } from './prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from './sysfs-fixture.ts';

export interface DaemonSuiteOptions {
  /** Builds the host tree before the daemon starts (RAPL zones, hwmon chips, amdgpu boards). */
  host?: (fixture: SysfsFixture) => void;
  /** NVML boards; the daemon then loads the double through the same FFI path as libnvidia-ml.so.1. */
  nvml?: FakeNvmlScript;
  /**
   * Config keys on top of the test defaults (loopback ports, 200 ms interval, no attribution lag); a
   * function is called when the daemon starts, for keys naming parts started by earlier hooks.
   */
  flags?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Starts a real Prometheus that scrapes the daemon every `scrapeIntervalS` seconds, with `features` enabled. */
  prometheus?: { scrapeIntervalS: number; features?: string[] };
}

export interface DaemonSuite {
  readonly fixture: SysfsFixture;
  readonly daemon: TestDaemon;
  /** Present when the suite declared NVML boards. */
  readonly nvml: NvmlDouble | undefined;
  /** Present when the suite asked for Prometheus. */
  readonly prometheus: RunningPrometheus;
}

/** Registers beforeAll/afterAll in the calling describe block; the returned parts exist inside its tests. */
export function daemonSuite(options: DaemonSuiteOptions = {}): DaemonSuite {
  let fixture: SysfsFixture | undefined;
  let daemon: TestDaemon | undefined;
  let nvml: NvmlDouble | undefined;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    fixture = createSysfsFixture();
    options.host?.(fixture);
    nvml = options.nvml ? nvmlDouble(options.nvml) : undefined;
    const flags = typeof options.flags === 'function' ? options.flags() : options.flags;
    daemon = await startTestDaemon({ hostRoot: fixture.root, ...(nvml ? { nvmlLibrary: nvml.libraryPath } : {}), ...flags });
    if (options.prometheus) prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${daemon.metricsPort}`], ...options.prometheus });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await daemon?.close();
    fixture?.remove();
  });

  const started = <T>(part: T | undefined, name: string): T => {
    if (part === undefined)
      throw new Error(
        `the suite's ${name} exists only inside its tests (after beforeAll)${name === 'prometheus' ? ', and only when the suite asked for it' : ''}`,
      );
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
    get prometheus() {
      return started(prometheus, 'prometheus');
    },
  };
}
