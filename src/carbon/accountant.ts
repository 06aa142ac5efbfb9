// The carbon stage's interface: energy (and device time) in, grams and money out.
import type { ShareFootprint } from '../attribution/activity.ts';
import type { HwType } from '../devices/source.ts';
import type { EmbodiedDevice } from './embodied.ts';

/** Energy of one device over one time range, already attributed (or the whole device's). */
export interface EnergyShare {
  deviceId: string;
  deviceType: HwType;
  deviceName: string;
  startMs: number;
  endMs: number;
  energyJoules: number;
  /** Device time this share stands for (fraction of the device x range length), for embodied and device-hour cost. */
  deviceSeconds: number;
}

// ShareFootprint (what a share of energy cost) is declared by attribution, which sums it per request.
export type { ShareFootprint } from '../attribution/activity.ts';

export type IntensitySignal = 'average' | 'marginal';

/** What `carbon.intensity` and the provider health gauges publish. */
export interface IntensityStatus {
  zone: string;
  /** Where the value in use comes from: `static`, `file`, `electricitymaps`, `watttime`. */
  source: string;
  signal: IntensitySignal;
  gramsPerKwh: number;
  /** Seconds since the value in use was fetched (0 for static). */
  ageSeconds: number;
  /** `live`: the provider's fresh value; `last_good`: a stale live value; `static`: fallen back to the table. */
  state: 'live' | 'last_good' | 'static';
}

export interface CarbonAccountant {
  readonly currency: string;
  readonly pue: number;
  /**
   * The host's devices, known before the first share (and again whenever they change): decides which
   * embodied defaults apply and, for estimated devices, the share of the host they stand for (see EmbodiedModel).
   */
  useHostDevices(devices: readonly EmbodiedDevice[]): void;
  account(share: EnergyShare): ShareFootprint;
  intensity(nowMs: number): IntensityStatus;
  start(): Promise<void>;
  close(): Promise<void>;
}
