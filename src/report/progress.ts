// Progress while querying: one rewritten line on a terminal, one line per query elsewhere (CI logs).
export type ProgressReporter = (done: number, total: number, label: string) => void;

export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  return (done, total, label) => {
    const text = `querying ${done}/${total} ${label}`;
    if (!stream.isTTY) {
      stream.write(`${text}\n`);
      return;
    }
    stream.write(`\r\x1b[2K${text}`);
    if (done === total) stream.write('\n');
  };
}
