// report.md: the same sections as the HTML, as text and tables to paste into a review document.
import { METHODOLOGY_PATH, methodologyText, type Section, type Table } from './findings.ts';
import type { ReportData } from './report-data.ts';

const cell = (text: string) => text.replace(/\|/g, '\\|');

function markdownTable(table: Table): string {
  const lines = [
    ...(table.caption ? [`**${table.caption}**`, ''] : []),
    `| ${table.headers.map(cell).join(' | ')} |`,
    `|${table.headers.map((_, index) => (index >= table.numericFrom ? ' ---: ' : ' --- ')).join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function renderMarkdown(data: ReportData, sections: Section[]): string {
  const parts = [`# footprint capacity review`, '', `${data.window.from} to ${data.window.to}. Charts are in report.html; the numbers are in report.json.`];
  for (const section of sections) {
    parts.push('', `## ${section.title}`, '', ...section.text.flatMap((text) => [text, '']));
    for (const table of section.tables) parts.push(markdownTable(table), '');
  }
  parts.push('---', '', `Methodology: [${METHODOLOGY_PATH}](${METHODOLOGY_PATH}). ${methodologyText(data)}`, '');
  return parts.join('\n').replace(/\n{3,}/g, '\n\n');
}
