// Public surface of the carbon stage.
export type { CarbonAccountant, EnergyShare, IntensitySignal, IntensityStatus, ShareFootprint } from './accountant.ts';
export { createCarbonAccountant, type CarbonAccountantOptions, type FootprintCarbonAccountant } from './create-accountant.ts';
export { lookupZone, zoneForCloudRegion, worldAverage } from './zones.ts';
