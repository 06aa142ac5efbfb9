// `footprint plan`: the best start for a job under the grid forecast, with no daemon running. It builds
// the same carbon stage as `start` from the same flags, polls the provider once and plans on what it got.
import type { Logger } from 'pino';
import { createCarbonAccountant } from './carbon/create-accountant.ts';
import { answerPlan, planLine, type PlanAnswer } from './carbon/plan-answer.ts';
import { parseDeadline, parsePlanDuration, parsePower } from './carbon/plan-args.ts';
import { PlanError } from './carbon/plan.ts';
import { ZONES_EXAMPLE } from './carbon/zones.ts';
import { ConfigError, type Config } from './config.ts';
import { PrometheusClient, PrometheusError } from './report/prometheus-client.ts';

export interface PlanFlags {
  duration?: string;
  power?: string;
  by?: string;
  model?: string;
  prometheus?: string;
  format?: string;
  /** Comma-separated grid zones to compare ("where"), each planned under its own forecast. */
  zones?: string;
}

/** The plans of several zones: the cleanest first, and the one to pick. */
interface ZonesAnswer {
  best: PlanAnswer;
  zones: PlanAnswer[];
}

/** Zones one `--zones` may compare: each costs a provider call. */
const MAX_ZONES = 16;

function parseZones(text: string): string[] {
  const zones = [
    ...new Set(
      text
        .split(',')
        .map((zone) => zone.trim())
        .filter((zone) => zone !== ''),
    ),
  ];
  if (zones.length < 1 || zones.length > MAX_ZONES || zones.some((zone) => !/^[A-Za-z0-9_-]{1,64}$/.test(zone))) {
    throw new PlanError(`zones: '${text.slice(0, 64)}' is invalid: expected 1-${MAX_ZONES} comma-separated zone codes, e.g. ${ZONES_EXAMPLE}`);
  }
  return zones;
}

const MAX_MODEL_NAME_CHARS = 256;

/**
 * The model's average power over the last day: its attributed energy's rate, summed over devices, pods
 * and phases (J/s = W). PUE is applied by the plan, as for any --power.
 */
export function modelPowerQuery(model: string): string {
  return `sum(rate(ml_energy_joules_total{ml_model=${JSON.stringify(model)}}[1d]))`;
}

async function modelPowerWatts(model: string, prometheusUrl: string, nowMs: number): Promise<number> {
  if (model === '' || model.length > MAX_MODEL_NAME_CHARS) throw new PlanError(`model: expected a name of 1-${MAX_MODEL_NAME_CHARS} characters`);
  const client = new PrometheusClient({ baseUrl: prometheusUrl });
  const samples = await client.query(modelPowerQuery(model), nowMs / 1000);
  const watts = samples[0]?.points[0]?.[1];
  if (watts === undefined || !(watts > 0))
    throw new PlanError(`model: '${model.slice(0, 64)}' has no energy in ${prometheusUrl} over the last day (ml_energy_joules_total)`);
  return watts;
}

export async function runPlan(config: Config, flags: PlanFlags, logger: Logger, nowMs = Date.now()): Promise<string> {
  try {
    const format = flags.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new PlanError(`format: '${format.slice(0, 32)}' is invalid: expected json or text`);
    if (flags.duration === undefined) throw new PlanError('duration: (missing) is invalid: expected a duration like 4h');
    if ((flags.power === undefined) === (flags.model === undefined)) throw new PlanError('power: give --power, or --model with --prometheus, not both');
    if (flags.model !== undefined && flags.prometheus === undefined) throw new PlanError('prometheus: (missing) is invalid: --model needs --prometheus URL');
    const durationMs = parsePlanDuration(flags.duration);
    const deadlineMs = flags.by === undefined ? undefined : parseDeadline(flags.by, nowMs);
    const powerWatts = flags.power !== undefined ? parsePower(flags.power) : await modelPowerWatts(flags.model!, flags.prometheus!, nowMs);
    const args = { durationMs, powerWatts, ...(deadlineMs !== undefined && { deadlineMs }) };
    // The provider's retry pauses are unref'd for the daemon; here they are all that keeps the process alive.
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const planIn = async (zoneConfig: Config): Promise<PlanAnswer> => {
      const accountant = createCarbonAccountant(zoneConfig, logger, { now: () => nowMs, http: { sleep } });
      await accountant.refresh();
      return answerPlan(accountant.forecast(nowMs), args, zoneConfig.pue, nowMs);
    };
    if (flags.zones === undefined) {
      const answer = await planIn(config);
      return format === 'json' ? `${JSON.stringify(answer, null, 2)}\n` : `${planLine(answer)}\n`;
    }
    // Where: each zone under its own forecast from the same provider, the cleanest first (ties keep the order given).
    const answers: PlanAnswer[] = [];
    for (const zone of parseZones(flags.zones)) {
      const { cloudRegion: _region, ...rest } = config;
      answers.push(await planIn({ ...rest, zone }));
    }
    const ranked = answers
      .map((answer, index) => ({ answer, index }))
      .sort((a, b) => a.answer.gramsCo2e - b.answer.gramsCo2e || a.index - b.index)
      .map(({ answer }) => answer);
    const result: ZonesAnswer = { best: ranked[0]!, zones: ranked };
    if (format === 'json') return `${JSON.stringify(result, null, 2)}\n`;
    return `best: ${result.best.zone}\n${ranked.map((answer) => `${answer.zone}: ${planLine(answer)}`).join('\n')}\n`;
  } catch (error) {
    if (error instanceof PlanError || error instanceof PrometheusError) throw new ConfigError(`plan: ${error.message}`);
    throw error;
  }
}
