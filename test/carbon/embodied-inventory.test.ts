// Embodied cpu and memory from the machine's inventory (docs/methodology.md, "From the inventory"):
// two DIMM layouts give the figures BoaviztAPI's component models give, and a machine that cannot
// list its DIMMs keeps the documented 6 x 32 GB assumption.
import { describe, expect, it } from 'vitest';
import { EmbodiedModel, gramsPerDeviceSecond } from '../../src/carbon/embodied.ts';
import { assumedInventory, describeInventory, inventoryFrom, type InventoryData } from '../../src/devices/inventory.ts';

const GIB = 2 ** 30;

/** systeminformation's memLayout() rows as dmidecode -t 17 fills them on a two-socket server. */
function dimms(count: number, gib: number): InventoryData['memLayout'] {
  return Array.from({ length: count }, (_, index) => ({
    size: gib * GIB,
    bank: `P${index % 2}_Node${index % 2}_Channel${index >> 1}_Dimm0`,
    type: 'DDR4',
    formFactor: 'DIMM',
  }));
}

function server(memLayout: InventoryData['memLayout'], physicalCores = 48): InventoryData {
  return {
    memLayout,
    cpu: { manufacturer: 'Intel', brand: 'Xeon® Gold 6248R', physicalCores, processors: 2 },
    system: { manufacturer: 'Dell Inc.', model: 'PowerEdge R740' },
    chassis: { type: 'Rack Mount Chassis' },
  };
}

/** A measured two-socket host without GPUs: two RAPL packages and two dram domains. */
const HOST = [
  { id: 'rapl:package-0', type: 'cpu', name: 'package-0', method: 'counter' },
  { id: 'rapl:package-1', type: 'cpu', name: 'package-1', method: 'counter' },
  { id: 'rapl:package-0:dram', type: 'memory', name: 'dram', method: 'counter' },
  { id: 'rapl:package-1:dram', type: 'memory', name: 'dram', method: 'counter' },
] as const;

function modelFor(data: InventoryData | undefined) {
  const model = new EmbodiedModel([], data && inventoryFrom(data));
  model.useHostDevices(HOST);
  return model;
}

describe('embodied figures from the inventory', () => {
  it('12 x 32 GiB over two memory domains: 6 x (32 / 1.79 x 2.20 + 5.22) = 267.2976536 kg per domain, the default', () => {
    const memory = modelFor(server(dimms(12, 32))).factorFor(HOST[2]);
    expect(memory.manufacturingKgCo2e).toBeCloseTo(6 * ((32 / 1.79) * 2.2 + 5.22), 12);
    expect(memory.manufacturingKgCo2e).toBeCloseTo(267.2976536, 7);
    expect(memory.lifetimeYears).toBe(4);
  });

  it('16 x 64 GiB over two memory domains: 8 x (64 / 1.79 x 2.20 + 5.22) = 671.0337430 kg per domain', () => {
    const model = modelFor(server(dimms(16, 64)));
    const memory = model.factorFor(HOST[3]);
    expect(memory.manufacturingKgCo2e).toBeCloseTo(671.033743, 6);
    // g/s = kg x 1000 / (4 x 31 557 600 s): 671.033743 kg -> 0.0053159440 g/s per domain, 19.1373986 g per hour.
    expect(gramsPerDeviceSecond(memory)).toBeCloseTo((671.033743 * 1000) / (4 * 31_557_600), 12);
    expect(model.grams({ deviceId: 'rapl:package-1:dram', deviceType: 'memory', deviceName: 'dram', deviceSeconds: 3600 })).toBeCloseTo(19.13739856, 7);
  });

  it('cpu packages from the cores per socket: 48 cores / 2 sockets = 24 -> 21.69087 kg; 64 / 2 = 32 -> 25.55207 kg', () => {
    expect(modelFor(server(dimms(12, 32), 48)).factorFor(HOST[0]).manufacturingKgCo2e).toBeCloseTo((24 * 0.245 + 0.491) * 1.97 + 9.14, 12);
    expect(modelFor(server(dimms(12, 32), 64)).factorFor(HOST[0]).manufacturingKgCo2e).toBeCloseTo(25.55207, 9);
  });

  it('keeps the documented assumption, and says so, where the machine cannot list its DIMMs', () => {
    // A container without dmidecode: systeminformation returns the whole memory as one module with no bank, type or form factor.
    const container = inventoryFrom({
      ...server([{ size: 25_276_059_648, bank: '', type: '', formFactor: '' }]),
      cpu: { manufacturer: 'AMD', brand: 'EPYC', physicalCores: 0, processors: 0 },
    });
    expect(container.dimmBytes).toEqual([]);
    const model = new EmbodiedModel([], container);
    model.useHostDevices(HOST);
    expect(model.factorFor(HOST[2]).manufacturingKgCo2e).toBe(267.3);
    expect(model.factorFor(HOST[0]).manufacturingKgCo2e).toBe(21.69);
    expect(describeInventory(container)).toEqual([
      'system: Dell Inc. PowerEdge R740 (chassis: Rack Mount Chassis)',
      'cpu: AMD EPYC, ? socket(s), ? physical core(s)',
      'memory: DIMMs unknown',
      'assumed: DIMMs: not listed (memLayout needs dmidecode and root); embodied memory assumes 6 x 32 GB per memory domain',
      'assumed: CPU: sockets or cores unknown; embodied cpu assumes 24 cores per package',
    ]);
    expect(modelFor(undefined).factorFor(HOST[2]).manufacturingKgCo2e).toBe(267.3);
    expect(describeInventory(assumedInventory('the host root is /tmp/x'))).toContain('memory: DIMMs unknown');
  });

  it('shows a listed inventory as doctor prints it', () => {
    expect(describeInventory(inventoryFrom(server(dimms(16, 64))))).toEqual([
      'system: Dell Inc. PowerEdge R740 (chassis: Rack Mount Chassis)',
      'cpu: Intel Xeon® Gold 6248R, 2 socket(s), 48 physical core(s)',
      `memory: 16 DIMM(s): ${Array(16).fill('64 GiB').join(', ')}`,
    ]);
  });
});
