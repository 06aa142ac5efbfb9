// Number formatting shared by the HTML and Markdown renderers, so both say the same thing.
const numberFormats = new Map<number, Intl.NumberFormat>();

/** Fixed significant decimals with thousands separators; "n/a" for missing values. */
export function formatNumber(value: number | null | undefined, fractionDigits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  let format = numberFormats.get(fractionDigits);
  if (!format) {
    format = new Intl.NumberFormat('en-US', { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits });
    numberFormats.set(fractionDigits, format);
  }
  return format.format(value);
}

/** Three significant digits, for per-request and per-token figures that are often far below 1. */
export function formatSignificant(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return significantFormat.format(value);
}
const significantFormat = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

export function formatPercent(share: number | null | undefined, fractionDigits = 1): string {
  return share === null || share === undefined || !Number.isFinite(share) ? 'n/a' : `${formatNumber(share * 100, fractionDigits)}%`;
}

/** A signed relative change: "+4.2%", "-10.0%", or "n/a" when there is no previous value. */
export function formatChange(changeRatio: number | null): string {
  if (changeRatio === null) return 'n/a';
  // Below the displayed precision there is no direction to show ("-0.0%" reads as a decrease).
  if (Math.abs(changeRatio) < 0.0005) return '0.0%';
  return `${changeRatio > 0 ? '+' : ''}${formatPercent(changeRatio)}`;
}

/** Amounts per currency; `format` picks fixed decimals for totals or significant digits for unit costs. */
export function formatCosts(costs: Record<string, number>, format: (amount: number) => string = (amount) => formatNumber(amount, 2)): string {
  const entries = Object.entries(costs);
  return entries.length === 0 ? 'n/a' : entries.map(([currency, amount]) => `${format(amount)} ${currency}`).join(', ');
}

/** A duration as the flags spell it: 14d, 3h, 5m, 30s. */
export function formatSpan(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
