// "Next 24 hours": the grid forecast the daemons publish and the best start of a 1 h and an 8 h job,
// shared by the fleet and training dashboards (docs/planning.md).
import type { RowSpec } from './builder.ts';
import { RECORDED } from './recordings.ts';
import { sel } from './variables.ts';

interface ForecastSeries {
  forecast: string;
  bestStart: string;
  bestIntensity: string;
}

/** The daemons' own series, for rows filtered by node. */
export const RAW_FORECAST: ForecastSeries = {
  forecast: 'carbon_forecast_intensity_grams_per_kilowatt_hour',
  bestStart: 'carbon_forecast_best_start_seconds',
  bestIntensity: 'carbon_forecast_best_intensity_grams_per_kilowatt_hour',
};

/** The recorded per-zone aggregates, for fleet rows. */
export const RECORDED_FORECAST: ForecastSeries = { forecast: RECORDED.forecast, bestStart: RECORDED.bestStart, bestIntensity: RECORDED.bestIntensity };

/** The forecast row over the `series` that `matchers` select (cluster, node). */
export function forecastRow(series: ForecastSeries, ...matchers: string[]): RowSpec {
  return {
    title: 'Grid intensity, next 24 hours',
    panels: [
      {
        kind: 'bargauge',
        title: 'Grid intensity forecast, next 24 hours',
        description:
          'Forecast intensity at each hourly offset from now (forecast_offset 1h..24h) per zone, from the provider in use (static: the annual average held flat). ' +
          'WattTime is a marginal signal, the others average; see docs/planning.md.',
        unit: 'suffix:gCO2e/kWh',
        width: 16,
        queries: [
          {
            expr: `max by (carbon_zone, carbon_source, forecast_offset) (${sel(series.forecast, ...matchers)})`,
            legend: '{{carbon_zone}} +{{forecast_offset}}',
          },
        ],
      },
      {
        kind: 'stat',
        title: 'Best start in the next 24 hours',
        description: 'Time from now to the start with the least CO2e for a 1 h and an 8 h job (0: now), per zone; `footprint plan` plans any job.',
        unit: 's',
        width: 4,
        queries: [
          {
            expr: `min by (carbon_zone, forecast_duration) (${sel(series.bestStart, ...matchers)})`,
            legend: '{{carbon_zone}} {{forecast_duration}} job',
          },
        ],
      },
      {
        kind: 'stat',
        title: 'Best window intensity',
        description: 'Mean forecast intensity over that best window, per zone and job length.',
        unit: 'suffix:gCO2e/kWh',
        width: 4,
        queries: [
          {
            expr: `min by (carbon_zone, forecast_duration) (${sel(series.bestIntensity, ...matchers)})`,
            legend: '{{carbon_zone}} {{forecast_duration}} job',
          },
        ],
      },
    ],
  };
}
