// `footprint plan`: the best start for a job under the grid forecast, with no daemon running. It builds
// the same carbon stage as `start` from the same flags, polls the provider once and plans on what it got.
import type { Logger } from 'pino';
import { createCarbonAccountant } from './carbon/create-accountant.ts';
import { answerPlan, planLine } from './carbon/plan-answer.ts';
import { parseDeadline, parsePlanDuration, parsePower } from './carbon/plan-args.ts';
import { PlanError } from './carbon/plan.ts';
import { ConfigError, type Config } from './config.ts';
import { PrometheusClient, PrometheusError } from './report/prometheus-client.ts';

export interface PlanFlags {
  duration?: string;
  power?: string;
  by?: string;
  model?: string;
  prometheus?: string;
  format?: string;
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
  if (watts === undefined || !(watts > 0)) throw new PlanError(`model: '${model.slice(0, 64)}' has no energy in ${prometheusUrl} over the last day (ml_energy_joules_total)`);
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
    // The provider's retry pauses are unref'd for the daemon; here they are all that keeps the process alive.
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const accountant = createCarbonAccountant(config, logger, { now: () => nowMs, http: { sleep } });
    await accountant.refresh();
    const answer = answerPlan(accountant.forecast(nowMs), { durationMs, powerWatts, ...(deadlineMs !== undefined && { deadlineMs }) }, config.pue, nowMs);
    return format === 'json' ? `${JSON.stringify(answer, null, 2)}\n` : `${planLine(answer)}\n`;
  } catch (error) {
    if (error instanceof PlanError || error instanceof PrometheusError) throw new ConfigError(`plan: ${error.message}`);
    throw error;
  }
}
