// `footprint doctor`: every device found, how it is measured, and what is missing with the fix.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { describeInventory, hostInventory, type HardwareInventory } from './devices/inventory.ts';
import { createDeviceSources, discoverAll } from './devices/registry.ts';
import { senderAdvice } from './doctor-senders.ts';

export async function runDoctor(config: Config, logger: Logger, inventory: Promise<HardwareInventory> = hostInventory(config.hostRoot)): Promise<string> {
  const { devices, problems, sources } = await discoverAll(createDeviceSources(config, logger), { hostRoot: config.hostRoot, logger });
  await Promise.allSettled(sources.map((source) => source.close?.()));
  const rows = devices.map((device) => [device.id, device.type, device.vendor, device.method, device.hostRole, device.name]);
  const header = ['HW.ID', 'TYPE', 'VENDOR', 'METHOD', 'HOST', 'NAME'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  const out = [`footprint doctor (host root ${config.hostRoot})`, '', `${devices.length} device(s):`, line(header), ...rows.map(line), ''];
  const estimated = devices.filter((device) => device.method === 'model');
  if (estimated.length > 0)
    out.push(`Estimated, not measured: ${estimated.map((device) => device.id).join(', ')} (published with measurement.method="model").`, '');
  out.push('Inventory (for embodied emissions):', ...describeInventory(await inventory).map((line) => `  ${line}`), '');
  if (problems.length === 0) out.push('Nothing missing.');
  else out.push('Missing:', ...problems.map((problem) => `- ${problem.source}: ${problem.message}\n  fix: ${problem.fix}`));
  out.push('', ...(await senderAdvice(config.listen)));
  return `${out.join('\n')}\n`;
}
