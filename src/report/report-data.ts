// The shape of report.json; the HTML and Markdown renderers read only this.
import type { GroupBy } from './queries.ts';
import type { Shiftable } from './shiftable.ts';

export interface Change {
  current: number;
  previous: number;
  /** (current - previous) / previous; null when the previous window had nothing. */
  changeRatio: number | null;
}

export interface ScopedGrams<T> {
  operational: T;
  embodied: T;
  total: T;
}

export interface BreakdownRow {
  key: string;
  energyKilowattHours: number;
  emissionsGrams: number;
  /** Per currency code. */
  cost: Record<string, number>;
  /** Set on the "(rest)" row: how many keys it folds together. */
  restCount?: number;
}

export interface ModelEfficiency {
  model: string;
  requests: number;
  tokens: number;
  /** Operational + embodied grams attributed to the model (idle excluded). */
  emissionsGrams: number;
  gramsPer1kTokens: number | null;
  gramsPerRequest: number | null;
  costPer1kTokens: Record<string, number>;
  costPerRequest: Record<string, number>;
  previousGramsPer1kTokens: number | null;
  previousGramsPerRequest: number | null;
  gramsPer1kTokensChangeRatio: number | null;
}

export interface IdleRow {
  node: string;
  /** Set on per-GPU rows. */
  hwId?: string;
  idleKilowattHours: number;
  totalKilowattHours: number;
  share: number;
}

interface MethodShare {
  method: string;
  measured: boolean;
  kilowattHours: number;
  share: number;
}

/** A request linked from an energy-per-request bucket (an exemplar): where to find its trace. */
export interface CostlyRequest {
  traceId: string;
  spanId: string;
  model: string;
  operation: string;
  /** The daemon that measured it (Prometheus's `instance`). */
  node: string;
  energyJoules: number;
  endedAt: string;
}

export interface SeriesPoint {
  time: string;
  key: string;
  value: number;
}

export interface ReportData {
  generatedAt: string;
  prometheusUrl: string;
  window: { from: string; to: string; lengthSeconds: number; stepSeconds: number };
  previousWindow: { from: string; to: string };
  groupBy: GroupBy;
  topN: number;
  totals: {
    energyKilowattHours: Change;
    emissionsGrams: ScopedGrams<Change>;
    cost: Record<string, Change>;
    requests: Change;
    tokens: Change;
  };
  projection: {
    method: string;
    basisSeconds: number;
    horizonSeconds: number;
    energyKilowattHours: number;
    emissionsGrams: ScopedGrams<number>;
    cost: Record<string, number>;
  };
  breakdowns: Record<GroupBy, BreakdownRow[]>;
  perModel: ModelEfficiency[];
  idleShare: { nodes: IdleRow[]; gpus: IdleRow[] };
  measurement: { methods: MethodShare[]; measuredShare: number };
  series: {
    powerWattsByNode: SeriesPoint[];
    powerWattsByDeviceType: SeriesPoint[];
    intensityByZone: SeriesPoint[];
    emissionsGramsByGroup: SeriesPoint[];
    gramsPer1kTokensByModel: SeriesPoint[];
  };
  /** Training jobs moved to the cleanest start of the same day, and the intensity each node applied (hourly). */
  shiftable: Shiftable & { intensityByNode: SeriesPoint[] };
  /**
   * The ten costliest requests the window's exemplars link, most joules first; `stored` is false when
   * the backend keeps no exemplars (Prometheus without `--enable-feature=exemplar-storage`, VictoriaMetrics).
   */
  costliestRequests: { stored: boolean; requests: CostlyRequest[] };
  /** Report metrics with no sample in the window; their sections are empty. */
  missingMetrics: string[];
}
