/**
 * `docker compose`-style logs: every line of every process prefixed with its pod (and container
 * when the pod has several), padded and colored per pod.
 */
import type { Readable, Writable } from 'node:stream';

const COLORS = [36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96];

export interface LogSinkOptions {
  out: Writable;
  color: boolean;
  /** Prefix width (names are padded to it). @default 24 */
  width?: number;
}

export class LogSink {
  private readonly colors = new Map<string, number>();
  private width: number;

  constructor(private readonly options: LogSinkOptions) {
    this.width = options.width ?? 24;
  }

  /** Forwards a stream line by line with the prefix. */
  attach(name: string, stream: Readable): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.line(name, line);
    });
    stream.on('end', () => {
      if (partial) this.line(name, partial);
      partial = '';
    });
  }

  line(name: string, text: string): void {
    this.options.out.write(`${this.prefix(name)}${text.replace(/\r$/, '')}\n`);
  }

  private prefix(name: string): string {
    if (name.length > this.width) this.width = Math.min(name.length, 40);
    const padded = `${name.padEnd(this.width)} | `;
    if (!this.options.color) return padded;
    let color = this.colors.get(name);
    if (color === undefined) {
      color = COLORS[this.colors.size % COLORS.length];
      this.colors.set(name, color);
    }
    return `\u001b[${color}m${padded}\u001b[0m`;
  }
}
