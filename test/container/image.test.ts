// The image as the Helm chart runs it, in a real container (podman): uid 65532, a read-only root with no
// writable mount at all, every capability dropped, no-new-privileges, the chart's rlimits, and a RAPL
// fixture tree at /host (the kernel's powercap layout, see test/support/sysfs-fixture.ts).
import { chmodSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { eventually } from '../support/eventually.ts';
import { BASE_IMAGE, containerStderr, ensureBaseImage, imageBytes, podman, skipWithoutPodman } from '../support/podman.ts';
import { listenFlags } from '../support/daemon-process.ts';
import { freePort } from '../support/prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const REPO_ROOT = new URL('../../', import.meta.url).pathname;
const IMAGE = 'localhost/footprint:container-test';
const CONTAINER = `footprint-container-test-${process.pid}`;
/** The image's own layers above the Node base (issue #13). */
const MAX_APP_LAYER_BYTES = 60_000_000;

describe.skipIf(skipWithoutPodman())('container image', () => {
  let fixture: SysfsFixture;
  let metricsUrl: string;

  beforeAll(() => {
    ensureBaseImage();
    // `npm test` builds dist/ first; rebuilding here would pull it from under tests running bin/footprint.js.
    if (!existsSync(`${REPO_ROOT}dist/cli.js`)) throw new Error('dist/cli.js is missing: run `npm run build` first');
    podman(['build', '--quiet', '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '--build-arg', 'VERSION=0.1.0', '--tag', IMAGE, REPO_ROOT]);
  }, 600_000);

  afterAll(() => {
    podman(['rm', '--force', '--ignore', CONTAINER]);
    fixture?.remove();
  });

  it('adds at most 60 MB above the Node base and names the base in its label', () => {
    const appBytes = imageBytes(IMAGE) - imageBytes(BASE_IMAGE);
    console.log(`image layers above the base: ${(appBytes / 1e6).toFixed(1)} MB`);
    expect(appBytes).toBeLessThanOrEqual(MAX_APP_LAYER_BYTES);
    expect(podman(['image', 'inspect', '--format', '{{index .Labels "org.opencontainers.image.base.name"}}', IMAGE]).trim()).toBe(BASE_IMAGE);
  });

  it('runs locked down, measures the fixture exactly, answers doctor and stops cleanly on SIGTERM', async () => {
    fixture = createSysfsFixture();
    // mkdtemp makes the root 0700; uid 65532 must be able to walk into it, as into the host's /sys.
    chmodSync(fixture.root, 0o755);
    fixture.setCpuVendor('GenuineIntel', 1);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 1_000_000 });
    const ports = { metricsPort: await freePort(), ingestPort: await freePort(), grpcPort: await freePort() };
    metricsUrl = `http://127.0.0.1:${ports.metricsPort}/metrics`;
    podman([
      'run',
      '--detach',
      '--name',
      CONTAINER,
      '--network',
      'host',
      '--user',
      '65532:65532',
      '--read-only',
      '--read-only-tmpfs=false',
      '--cap-drop=ALL',
      '--security-opt',
      'no-new-privileges',
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=4096:4096',
      '--volume',
      `${fixture.root}:/host:ro`,
      IMAGE,
      'start',
      '--host-root',
      '/host',
      '--zone',
      'DE',
      '--interval',
      '500ms',
      ...listenFlags(ports),
    ]);
    // Nothing in the container is writable, /tmp included.
    expect(podman(['exec', CONTAINER, 'sh', '-c', 'touch /tmp/probe 2>&1 || true'])).toContain('Read-only file system');

    await eventually(
      async () => ((await fetchText(metricsUrl)) ?? '').includes('hw_energy_joules_total{hw_id="rapl:package-0"') || undefined,
      30_000,
      'first /metrics',
    );
    // 42 J on the package and 7 J on DRAM after the first reading.
    fixture.setEnergy('intel-rapl:0', 43_000_000);
    fixture.setEnergy('intel-rapl:0:0', 8_000_000);
    const exposition = await eventually(
      async () => {
        const text = (await fetchText(metricsUrl)) ?? '';
        return sampleValue(text, 'hw_host_energy_joules_total') === 49 ? text : undefined;
      },
      30_000,
      'host energy 49 J',
    );
    expect(sampleValue(exposition, 'hw_energy_joules_total', { hw_id: 'rapl:package-0' })).toBe(42);
    expect(sampleValue(exposition, 'hw_energy_joules_total', { hw_id: 'rapl:package-0:dram' })).toBe(7);

    const doctor = podman(['exec', CONTAINER, 'footprint', 'doctor', '--host-root', '/host']);
    expect(doctor).toContain('footprint doctor (host root /host)');
    expect(doctor).toMatch(/^rapl:package-0 +cpu +intel +counter/m);
    expect(doctor).toMatch(/^rapl:package-0:dram +memory +intel +counter/m);

    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(podman(['exec', CONTAINER, 'cat', '/proc/1/status']))![1]);
    console.log(`RSS in the container, RAPL only: ${(rssKiB / 1024).toFixed(1)} MiB`);

    podman(['stop', '--time', '10', CONTAINER]);
    expect(podman(['inspect', '--format', '{{.State.ExitCode}}', CONTAINER]).trim()).toBe('0');
    // A clean log: pino JSON only, nothing at warn (40) or above.
    const lines = containerStderr(CONTAINER).trim().split('\n');
    const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(records.filter((record) => record.level >= 40)).toEqual([]);
    expect(records.at(-1)?.msg).toBe('shutting down');
  }, 120_000);
});

async function fetchText(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url);
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined; // not listening yet
  }
}
