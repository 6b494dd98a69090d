// A small metrics registry (counters, gauges, histograms with labels) rendered in the Prometheus text format.
//
// The format is the one of the Prometheus documentation, "Exposition formats" (text format 0.0.4): a # HELP and a
// # TYPE line per family, then one `name{label="value",…} number` line per series; histograms as cumulative
// `_bucket{le=…}` series with `_sum` and `_count`. Names follow the Prometheus "Metric and label naming" page
// (snake case, a unit suffix, `_total` on counters).

export type Labels = Record<string, string | number>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample a collector gives: its labels and value (name suffixes such as _bucket are written by the registry). */
export interface Sample {
  labels?: Labels;
  value: number;
}

/** A family whose samples are computed when /metrics is read (store states, queue lengths, scrub coverage…). */
export interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  /** Called on every render; must be cheap and must not throw (a throw drops this family from that render). */
  collect(): Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) parts.push(`${k}="${escapeLabel(String(v))}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Label values keyed in declaration order: the identity of one series. */
function seriesKey(names: readonly string[], labels: Labels | undefined): string {
  return JSON.stringify(names.map((n) => String(labels?.[n] ?? '')));
}

function checkLabels(name: string, names: readonly string[], labels: Labels | undefined): void {
  for (const k of Object.keys(labels ?? {})) if (!names.includes(k)) throw new TypeError(`metric ${name}: unknown label ${k}`);
}

/** Most series one family may hold: a bound on memory if a label ever carried an unbounded value (a bug). */
export const MAX_SERIES = 10_000;

abstract class Family {
  protected readonly series = new Map<string, { labels: Labels }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new TypeError(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL.test(l) || l === 'le') throw new TypeError(`invalid label name ${l} of ${name}`);
  }
  abstract readonly type: MetricType;
  abstract lines(): string[];
}

/** A number that only goes up (requests, bytes). */
export class Counter extends Family {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  /** Add `by` (≥ 0, default 1) to the series `labels` names. */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) return;
    checkLabels(this.name, this.labelNames, labels);
    const k = seriesKey(this.labelNames, labels);
    const s = this.values.get(k);
    if (s) s.value += by;
    else if (this.values.size < MAX_SERIES) this.values.set(k, { labels: { ...labels }, value: by });
  }
  get(labels?: Labels): number {
    return this.values.get(seriesKey(this.labelNames, labels))?.value ?? 0;
  }
  lines(): string[] {
    return [...this.values.values()].map((s) => `${this.name}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
}

/** A number that goes up and down (stores up, bytes held). */
export class Gauge extends Family {
  readonly type = 'gauge';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  set(labels: Labels | undefined, value: number): void {
    checkLabels(this.name, this.labelNames, labels);
    const k = seriesKey(this.labelNames, labels);
    const s = this.values.get(k);
    if (s) s.value = value;
    else if (this.values.size < MAX_SERIES) this.values.set(k, { labels: { ...labels }, value });
  }
  get(labels?: Labels): number | undefined {
    return this.values.get(seriesKey(this.labelNames, labels))?.value;
  }
  lines(): string[] {
    return [...this.values.values()].map((s) => `${this.name}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
}

/** Default latency buckets, in seconds: 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Observations counted into fixed upper bounds (`le`), with their sum and count. */
export class Histogram extends Family {
  readonly type = 'histogram';
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    super(name, help, labelNames);
  }
  observe(labels: Labels | undefined, value: number): void {
    checkLabels(this.name, this.labelNames, labels);
    const k = seriesKey(this.labelNames, labels);
    let s = this.values.get(k);
    if (!s) {
      if (this.values.size >= MAX_SERIES) return;
      s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  /** Observations of one series so far. */
  count(labels?: Labels): number {
    return this.values.get(seriesKey(this.labelNames, labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.values.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(s.labels, ['le', formatValue(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/**
 * The metrics of one server process: families by name, rendered in registration order. Other parts add their
 * own with counter()/gauge()/histogram() (kept and updated by them) or register() (computed at each render).
 * Registering a name twice with the same type returns the first (so a part started twice shares it); with another
 * type it throws a TypeError (a bug).
 */
export class Metrics {
  private readonly families = new Map<string, Family | Collected>();

  private add<T extends Family>(f: T): T {
    const old = this.families.get(f.name);
    if (old) {
      if (old instanceof Family && old.type === f.type && old.constructor === f.constructor) return old as T;
      throw new TypeError(`metric ${f.name} is registered already as another kind`);
    }
    this.families.set(f.name, f);
    return f;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /**
   * A family computed at each render (the hook for gauges owned elsewhere: scrub coverage and age, margins, queue
   * lengths). Replaces an earlier collector of the same name; returns a function that removes it.
   */
  register(c: Collected): () => void {
    if (!NAME.test(c.name)) throw new TypeError(`invalid metric name ${c.name}`);
    const old = this.families.get(c.name);
    if (old instanceof Family) throw new TypeError(`metric ${c.name} is registered already as another kind`);
    this.families.set(c.name, c);
    return () => {
      if (this.families.get(c.name) === c) this.families.delete(c.name);
    };
  }

  /** The text exposition (Content-Type: text/plain; version=0.0.4), ending with a newline. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      let lines: string[];
      if (f instanceof Family) lines = f.lines();
      else {
        try {
          lines = f.collect().map((s) => {
            if (s.labels) for (const k of Object.keys(s.labels)) if (!LABEL.test(k)) throw new TypeError(`invalid label ${k}`);
            return `${f.name}${labelText(s.labels)} ${formatValue(s.value)}`;
          });
        } catch {
          continue;
        }
      }
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f instanceof Family ? f.type : f.type}`, ...lines);
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }
}

/** The Content-Type of render()'s text. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
