// The report's flag choices, apart from run.ts so the CLI can list them without loading vega.
import { GROUP_BY_LABEL, type GroupBy } from './queries.ts';

export const REPORT_FORMATS = ['html', 'md', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
export const GROUP_BY_VALUES = Object.keys(GROUP_BY_LABEL) as GroupBy[];
