#!/usr/bin/env node
// A stand-in for nvidia-smi that answers from the NVML double's script (FAKE_NVML_SCRIPT), so
// scripts/gpu-check.sh sees the same boards as footprint through the double. It knows the two
// queries the check makes, in nvidia-smi's CSV shapes (`--format=csv` prints a header with units).
// After each `--query-gpu=uuid,...` answer the boards move on: every board's counter advances by
// FAKE_SMI_STEP_MJ x (index + 1), as hardware would between two samples.
// FAKE_SMI_POWER_SCALE multiplies the power it prints (a test of the check's tolerance).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const scriptPath = process.env.FAKE_NVML_SCRIPT;
const query = process.argv.find((arg) => arg.startsWith('--query-gpu='))?.slice('--query-gpu='.length);
const format = process.argv.find((arg) => arg.startsWith('--format='))?.slice('--format='.length);
if (!scriptPath || !query || !format) {
  process.stderr.write('fake nvidia-smi: needs FAKE_NVML_SCRIPT, --query-gpu and --format\n');
  process.exit(2);
}
const lines = readFileSync(scriptPath, 'utf8').split('\n');
const gpus = [];
for (const line of lines) {
  const match = /^gpu (\d+) (uuid|energy_mj|power_mw) (\S+)$/.exec(line);
  if (!match) continue;
  gpus[Number(match[1])] ??= { energyMillijoules: 0, powerMilliwatts: 0 };
  const gpu = gpus[Number(match[1])];
  if (match[2] === 'uuid') gpu.uuid = match[3];
  if (match[2] === 'energy_mj') gpu.energyMillijoules = Number(match[3]);
  if (match[2] === 'power_mw') gpu.powerMilliwatts = Number(match[3]);
}

if (query === 'total_energy_consumption' && format === 'csv') {
  process.stdout.write(`total_energy_consumption [mJ]\n${gpus.map((gpu) => gpu.energyMillijoules).join('\n')}\n`);
} else if (query === 'uuid,power.draw,total_energy_consumption' && format === 'csv,noheader,nounits') {
  const scale = Number(process.env.FAKE_SMI_POWER_SCALE ?? 1);
  process.stdout.write(`${gpus.map((gpu) => `${gpu.uuid}, ${((gpu.powerMilliwatts / 1000) * scale).toFixed(2)}, ${gpu.energyMillijoules}`).join('\n')}\n`);
  const stepMillijoules = Number(process.env.FAKE_SMI_STEP_MJ ?? 0);
  if (stepMillijoules > 0) {
    const next = lines.map((line) =>
      line.replace(/^gpu (\d+) energy_mj (\d+)$/, (_, index, value) => `gpu ${index} energy_mj ${Number(value) + stepMillijoules * (Number(index) + 1)}`),
    );
    writeFileSync(`${scriptPath}.smi`, next.join('\n'));
    renameSync(`${scriptPath}.smi`, scriptPath);
  }
} else {
  process.stderr.write(`fake nvidia-smi: unsupported query ${query} ${format}\n`);
  process.exit(2);
}
