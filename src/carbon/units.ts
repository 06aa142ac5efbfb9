// Unit conversions used by the carbon stage, each exact by definition.

/** 1 kWh = 1000 W x 3600 s. */
export const JOULES_PER_KWH = 3_600_000;

/** The international avoirdupois pound, exact since 1959. */
const GRAMS_PER_POUND = 453.59237;

export const SECONDS_PER_HOUR = 3600;

/** Julian year: the amortisation year for embodied emissions (365.25 days). */
export const SECONDS_PER_YEAR = 365.25 * 86_400;

export function joulesToKwh(energyJoules: number): number {
  return energyJoules / JOULES_PER_KWH;
}

/** lbs CO2/MWh (WattTime's unit) -> g CO2/kWh: x 453.59237 g/lb, / 1000 kWh/MWh. */
export function poundsPerMwhToGramsPerKwh(poundsPerMwh: number): number {
  return (poundsPerMwh * GRAMS_PER_POUND) / 1000;
}
