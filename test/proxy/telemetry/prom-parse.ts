/**
 * A strict reader of the Prometheus text format (0.0.4) for tests: every line must be a
 * comment, a HELP/TYPE line or a well-formed sample, else it throws.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^-?[0-9.]+(e[+-]?[0-9]+)?$/i.test(text)) throw new Error(`bad sample value '${text}'`);
  return Number(text);
}

function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 0;
  if (text[i] !== '{') return { labels, rest: text };
  i++;
  while (text[i] !== '}') {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`bad label name in: ${line}`);
    const name = m[0];
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`expected =" in: ${line}`);
    i += 2;
    let value = '';
    while (text[i] !== '"') {
      if (i >= text.length) throw new Error(`unterminated label value in: ${line}`);
      if (text[i] === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else value += text[i++];
    }
    i++;
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    labels[name] = value;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, rest: text.slice(i + 1) };
}

export function parseExposition(text: string): Exposition {
  const out: Exposition = { samples: [], types: new Map(), help: new Map() };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (out.types.has(name)) throw new Error(`TYPE twice for ${name}`);
      out.types.set(name, type);
      continue;
    }
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      out.help.set(rest.slice(0, sp), rest.slice(sp + 1));
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = NAME.exec(line);
    if (!m) throw new Error(`bad metric name in: ${line}`);
    const { labels, rest } = parseLabels(line.slice(m[0].length), line);
    if (!rest.startsWith(' ')) throw new Error(`expected a space before the value in: ${line}`);
    out.samples.push({ name: m[0], labels, value: parseValue(rest.trim()) });
  }
  return out;
}

/** Samples of `name` whose labels include every given pair. */
export function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}
