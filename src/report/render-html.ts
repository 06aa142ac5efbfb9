// report.html: one self-contained file (inline CSS, charts as inline SVG, no scripts, no network).
import type { Chart } from './charts.ts';
import { METHODOLOGY_PATH, methodologyText, type Section, type Table } from './findings.ts';
import type { ReportData } from './report-data.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const STYLE = `
  :root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f9fafb; }
  main { max-width: 1080px; margin: 0 auto; padding: 32px 24px 48px; }
  header h1 { margin: 0 0 4px; font-size: 24px; }
  header p, footer { color: var(--muted); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
  h2 { font-size: 18px; margin: 0 0 8px; }
  table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
  caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
  th, td { padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line); text-align: left; }
  td.num, th.num { text-align: right; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  figure.chart { margin: 0; }
  figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
  footer { font-size: 12px; margin-top: 24px; }
  a { color: var(--accent); }
`;

function htmlTable(table: Table): string {
  const align = (index: number) => (index >= table.numericFrom ? ' class="num"' : '');
  return [
    '<table>',
    table.caption ? `<caption>${escapeHtml(table.caption)}</caption>` : '',
    `<thead><tr>${table.headers.map((h, i) => `<th${align(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${table.rows.map((row) => `<tr>${row.map((c, i) => `<td${align(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody>`,
    '</table>',
  ].join('');
}

function htmlSection(section: Section, charts: Map<string, Chart>): string {
  const figures = section.chartIds.flatMap((id) => {
    const chart = charts.get(id);
    return chart ? [`<figure class="chart" data-chart="${escapeHtml(id)}"><figcaption>${escapeHtml(chart.title)}</figcaption>${chart.svg}</figure>`] : [];
  });
  return [
    `<section id="${escapeHtml(section.id)}">`,
    `<h2>${escapeHtml(section.title)}</h2>`,
    ...section.text.map((text) => `<p>${escapeHtml(text)}</p>`),
    figures.length > 0 ? `<div class="charts">${figures.join('')}</div>` : '',
    ...section.tables.map(htmlTable),
    '</section>',
  ].join('\n');
}

export function renderHtml(data: ReportData, sections: Section[], charts: Map<string, Chart>): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>footprint capacity review ${escapeHtml(data.window.from)} to ${escapeHtml(data.window.to)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header><h1>footprint capacity review</h1><p>${escapeHtml(data.window.from)} to ${escapeHtml(data.window.to)}</p></header>
${sections.map((section) => htmlSection(section, charts)).join('\n')}
<footer>Methodology: <a href="${METHODOLOGY_PATH}">${METHODOLOGY_PATH}</a>. ${escapeHtml(methodologyText(data))}</footer>
</main>
</body>
</html>
`;
}
