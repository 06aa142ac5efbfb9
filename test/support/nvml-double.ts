// Builds the NVML double (test/nvml-double) with the machine's C compiler and scripts its behaviour.
// The library is compiled once per source version into test/.tmp and shared by every test file; the
// script is a file named by FAKE_NVML_SCRIPT, which the double re-reads when it changes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const SOURCE_DIR = fileURLToPath(new URL('../nvml-double/', import.meta.url));
const TMP_DIR = fileURLToPath(new URL('../.tmp/', import.meta.url));

interface FakeProcess {
  pid: number;
  /** Omit for NVML_VALUE_NOT_AVAILABLE. */
  usedBytes?: number;
}

export interface FakeGpu {
  uuid?: string;
  name?: string;
  energyMillijoules?: number;
  /** false: nvmlDeviceGetTotalEnergyConsumption answers NOT_SUPPORTED (pre-Volta boards). */
  energySupported?: boolean;
  powerMilliwatts?: number;
  /** Every call on the board answers GPU_IS_LOST. */
  lost?: boolean;
  powerLimitMilliwatts?: number;
  /** 0: NOT_SUPPORTED. */
  enforcedLimitMilliwatts?: number;
  mig?: boolean;
  migInstances?: string[];
  processes?: FakeProcess[];
  /** After the board answers INSUFFICIENT_SIZE once, this many more processes appear. */
  processRace?: number;
  /** NVML function name -> milliseconds that call sleeps on this board before answering. */
  hangs?: Record<string, number>;
}

export interface FakeNvmlScript {
  driverVersion?: string;
  /** nvmlInit_v2 answers this nvmlReturn_t. */
  initError?: number;
  gpus: FakeGpu[];
  /** System-level NVML function name -> milliseconds it sleeps before answering. */
  hangs?: Record<string, number>;
}

export interface NvmlDouble {
  libraryPath: string;
  scriptPath: string;
  /** Environment a daemon subprocess needs to find the script. */
  env: { FAKE_NVML_SCRIPT: string };
  /** Replaces the script atomically; the double sees it on its next call. */
  script(script: FakeNvmlScript): void;
  /** How often the double answered `fn` (also `nvmlDeviceGetComputeRunningProcesses_v3:INSUFFICIENT_SIZE`). */
  callCount(fn: string): number;
}

/** The default UUID the double gives board `index`. */
export function fakeUuid(index: number): string {
  return `GPU-00000000-0000-0000-0000-${String(index).padStart(12, '0')}`;
}

function compile(): string {
  const sources = ['libnvidia-ml-double.c', 'nvml-double.h'].map((file) => readFileSync(join(SOURCE_DIR, file)));
  const hash = createHash('sha256').update(Buffer.concat(sources)).digest('hex').slice(0, 12);
  const libraryPath = join(TMP_DIR, `libnvidia-ml-double-${hash}.so`);
  if (existsSync(libraryPath)) return libraryPath;
  mkdirSync(TMP_DIR, { recursive: true });
  // Compile beside the target and rename, so concurrent test files never load a half-written library.
  const partial = `${libraryPath}.${process.pid}.partial`;
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', partial, join(SOURCE_DIR, 'libnvidia-ml-double.c'), '-lpthread']);
  renameSync(partial, libraryPath);
  return libraryPath;
}

function render(script: FakeNvmlScript): string {
  const lines = [`gpus ${script.gpus.length}`];
  if (script.driverVersion) lines.push(`driver ${script.driverVersion}`);
  if (script.initError !== undefined) lines.push(`init_error ${script.initError}`);
  for (const [fn, ms] of Object.entries(script.hangs ?? {})) lines.push(`hang ${fn} ${ms}`);
  script.gpus.forEach((gpu, index) => {
    const line = (text: string) => lines.push(`gpu ${index} ${text}`);
    line(`uuid ${gpu.uuid ?? fakeUuid(index)}`);
    if (gpu.name) line(`name ${gpu.name}`);
    if (gpu.energyMillijoules !== undefined) line(`energy_mj ${gpu.energyMillijoules}`);
    if (gpu.energySupported === false) line('energy_supported 0');
    if (gpu.powerMilliwatts !== undefined) line(`power_mw ${gpu.powerMilliwatts}`);
    if (gpu.lost) line('lost 1');
    if (gpu.powerLimitMilliwatts !== undefined) line(`power_limit_mw ${gpu.powerLimitMilliwatts}`);
    if (gpu.enforcedLimitMilliwatts !== undefined) line(`enforced_limit_mw ${gpu.enforcedLimitMilliwatts}`);
    if (gpu.mig) line('mig 1');
    for (const uuid of gpu.migInstances ?? []) line(`mig_instance ${uuid}`);
    for (const process of gpu.processes ?? []) line(`process ${process.pid} ${process.usedBytes ?? -1}`);
    if (gpu.processRace) line(`process_race ${gpu.processRace}`);
    for (const [fn, ms] of Object.entries(gpu.hangs ?? {})) line(`hang ${fn} ${ms}`);
  });
  return `${lines.join('\n')}\n`;
}

/**
 * Compiles (if needed) and scripts a double. It sets FAKE_NVML_SCRIPT in this process, because the
 * double is loaded into this process by NvmlSource's worker thread and reads its script path from there.
 */
export function nvmlDouble(initial: FakeNvmlScript): NvmlDouble {
  const libraryPath = compile();
  const scriptPath = join(mkdtempSync(join(TMP_DIR, 'nvml-script-')), 'script');
  process.env.FAKE_NVML_SCRIPT = scriptPath;
  let callCountFn: ((fn: string) => number) | undefined;
  const double: NvmlDouble = {
    libraryPath,
    scriptPath,
    env: { FAKE_NVML_SCRIPT: scriptPath },
    script(script) {
      writeFileSync(`${scriptPath}.next`, render(script));
      renameSync(`${scriptPath}.next`, scriptPath);
    },
    callCount(fn) {
      callCountFn ??= koffi.load(libraryPath).func('unsigned long fake_nvml_call_count(const char *fn)') as (fn: string) => number;
      return callCountFn(fn);
    },
  };
  double.script(initial);
  return double;
}
