// End to end on a host without RAPL (a 2-vCPU, 8 GiB VM): the running daemon charges each estimated
// device its share of the reference server per second of device time, not a whole part. The device
// seconds come from the daemon's own energy: the estimator's power is constant here (idle CPU, memory
// by size), so joules / watts is exactly the time the pipeline integrated.
import { describe, expect, it } from 'vitest';
import { CPU_KG_PER_VCPU, MEMORY_KG_PER_GIB, PLATFORM_KG_PER_VCPU } from '../../src/carbon/host-share.ts';
import { CCF_COEFFICIENTS } from '../../src/devices/estimator.ts';
import { sampleValue } from '../support/daemon.ts';
import { eventually } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const VCPUS = 2;
const MEMORY_GIB = 8;
const LIFETIME_S = 4 * 31_557_600;

/** Per device: constant watts the estimator models, and embodied g/s from the share rule (docs/methodology.md). */
const EXPECTED = {
  'estimator:cpu': {
    watts: VCPUS * CCF_COEFFICIENTS.idleWattsPerCpu, // /proc/stat does not move: 0 % utilisation
    gramsPerSecond: (VCPUS * (CPU_KG_PER_VCPU + PLATFORM_KG_PER_VCPU) * 1000) / LIFETIME_S, // 6.790988e-5 g/s
  },
  'estimator:memory': {
    watts: MEMORY_GIB * CCF_COEFFICIENTS.wattsPerGib,
    gramsPerSecond: (MEMORY_GIB * MEMORY_KG_PER_GIB * 1000) / LIFETIME_S, // 8.823152e-5 g/s
  },
};

describe('embodied emissions of an estimated host through the daemon', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuTimes(Array.from({ length: VCPUS }, () => ({ user: 100, system: 50, idle: 1000 })));
      fixture.setMemTotal(MEMORY_GIB * 1024 * 1024);
    },
    flags: { zone: 'DE' },
  });

  it('publishes carbon_emissions_grams_total{carbon_scope="embodied"} = share g/s x device seconds', async () => {
    // Wait for at least a second of device time on both devices, from one scrape.
    const exposition = await eventually(
      async () => {
        const text = await suite.daemon.scrape();
        const enough = Object.entries(EXPECTED).every(([id, { watts }]) => (sampleValue(text, 'hw_energy_joules_total', { hw_id: id }) ?? 0) >= watts);
        return enough ? text : undefined;
      },
      15_000,
      'a second of estimated device time',
    );

    for (const [id, { watts, gramsPerSecond }] of Object.entries(EXPECTED)) {
      expect(sampleValue(exposition, 'hw_power_watts', { hw_id: id }), id).toBeCloseTo(watts, 12);
      const deviceSeconds = sampleValue(exposition, 'hw_energy_joules_total', { hw_id: id })! / watts;
      const grams = sampleValue(exposition, 'carbon_emissions_grams_total', { hw_id: id, carbon_scope: 'embodied' })!;
      expect(grams / (gramsPerSecond * deviceSeconds), id).toBeCloseTo(1, 12);
    }
  });
});
