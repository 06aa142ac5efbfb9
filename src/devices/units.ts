// Unit conversions and orderings shared by the sysfs sources.

/** Joules per RAPL and hwmon energy counter unit (µJ). */
export const MICROJOULE_JOULES = 1e-6;

/** Dividing (not multiplying by 1e-6) keeps whole microwatt values exact in watts: 118500000 -> 118.5. */
export const microwattsToWatts = (microwatts: number): number => microwatts / 1e6;

/** `hwmon2` before `hwmon10`, `energy2_input` before `energy17_input`: devices list in the order people count them. */
export const naturalOrder = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
