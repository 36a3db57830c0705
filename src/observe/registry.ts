/**
 * A small metrics registry with no dependency: counters, gauges and histograms with fixed
 * buckets, each a family of children by label values. A family holds at most `maxChildren`
 * children: label values beyond it (values that come from client input, such as close codes)
 * share one child whose every label is {@linkcode OVERFLOW_LABEL}, so the memory of a family is
 * bounded whatever clients send. Updating a child is a field increment: callers on the hot path
 * resolve their children once (`family.labels(...)`) and keep them.
 *
 * `src/observe/exposition.ts` writes a registry in the Prometheus text format.
 *
 * @module
 */

/** The label value of the child that label values past a family's `maxChildren` share. */
export const OVERFLOW_LABEL = "other";

/** The default buckets of a duration histogram, in seconds (50 µs to 10 s). */
export const DURATION_BUCKETS: readonly number[] = [
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  10,
];

/** The kind of a metric family, as the Prometheus text format names it. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A counter: only goes up. */
export class Counter {
  /** The current value. */
  value = 0;
  /** Adds `n` (default 1; negative values are ignored). */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** A gauge: a value that goes up and down. */
export class Gauge {
  /** The current value. */
  value = 0;
  /** Sets the value. */
  set(value: number): void {
    this.value = value;
  }
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/** A histogram with fixed upper bounds; counts are kept per bucket (made cumulative when read). */
export class Histogram {
  /** Observations per bucket: `counts[i]` for `bounds[i]`, the last one for `+Inf`. */
  readonly counts: Float64Array;
  /** The sum of the observations. */
  sum = 0;
  /** How many observations were made. */
  count = 0;

  /** `bounds`: ascending upper bounds (the `+Inf` bucket is implied). */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A child of a family of type `T`: a {@linkcode Counter}, {@linkcode Gauge} or {@linkcode Histogram}. */
export type Child<T extends MetricType> = T extends "counter" ? Counter
  : T extends "gauge" ? Gauge
  : Histogram;

/** Options of a metric family. */
export interface FamilyOptions {
  /** The label names (none: the family has one child). */
  labelNames?: readonly string[];
  /** Most children (distinct label value sets); further ones share the overflow child. Default 200. */
  maxChildren?: number;
  /** Histograms: the bucket upper bounds. Default {@linkcode DURATION_BUCKETS}. */
  buckets?: readonly number[];
}

/** One metric family: a name, a help text, a type, and its children by label values. */
export class MetricFamily<T extends MetricType = MetricType> {
  /** The label names, in order. */
  readonly labelNames: readonly string[];
  /** Most children before new label values share the overflow child. */
  readonly maxChildren: number;
  /** Histograms: the bucket upper bounds. */
  readonly buckets: readonly number[];
  /** Children by their label values joined with U+0001; the values are kept beside each child. */
  readonly #children = new Map<
    string,
    { values: readonly string[]; child: Child<T> }
  >();
  #overflow: Child<T> | undefined;

  /** A family called `name` (a valid Prometheus metric name) of `type`. */
  constructor(
    /** The metric name. */
    readonly name: string,
    /** The help text. */
    readonly help: string,
    /** The metric type. */
    readonly type: T,
    options: FamilyOptions = {},
  ) {
    assertName(name);
    this.labelNames = options.labelNames ?? [];
    for (const label of this.labelNames) assertName(label);
    this.maxChildren = options.maxChildren ?? 200;
    this.buckets = options.buckets ?? DURATION_BUCKETS;
  }

  /**
   * The child for one label value, for families with one label (no allocation once the child
   * exists: the hot path's lookup). Past `maxChildren` children, new values get the overflow child.
   */
  get(value: string): Child<T> {
    const found = this.#children.get(value);
    if (found) return found.child;
    return this.labelNames.length === 0 ? this.labels() : this.labels(value);
  }

  /**
   * The child for these label values (one per label name, in order), made on first use. Past
   * `maxChildren` children, new value sets get the shared overflow child.
   */
  labels(...values: string[]): Child<T> {
    const key = values.join("\u0001");
    const found = this.#children.get(key);
    if (found) return found.child;
    if (values.length !== this.labelNames.length) {
      throw new TypeError(
        `${this.name}: ${this.labelNames.length} label values expected, got ${values.length}`,
      );
    }
    if (this.#children.size >= this.maxChildren) {
      return this.#overflow ??= this.#make(
        this.labelNames.map(() => OVERFLOW_LABEL),
      );
    }
    const child = this.#make(values);
    return child;
  }

  #make(values: readonly string[]): Child<T> {
    const child =
      (this.type === "counter"
        ? new Counter()
        : this.type === "gauge"
        ? new Gauge()
        : new Histogram(this.buckets)) as Child<T>;
    this.#children.set(values.join("\u0001"), { values, child });
    return child;
  }

  /** The children with their label values (the overflow child included once used). */
  children(): Array<{ values: readonly string[]; child: Child<T> }> {
    return [...this.#children.values()];
  }

  /** Forgets every child (their holders keep updating objects nobody reads). */
  clear(): void {
    this.#children.clear();
    this.#overflow = undefined;
  }
}

/** A function run before the registry is read (gauges sampled at scrape time). */
export type Collector = () => void;

/** A set of metric families, read as a whole (`/metrics`, the inspector). */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily>();
  readonly #collectors = new Set<Collector>();

  /** A counter family (its name should end in `_total`). */
  counter(
    name: string,
    help: string,
    options?: FamilyOptions,
  ): MetricFamily<"counter"> {
    return this.#add(new MetricFamily(name, help, "counter", options));
  }

  /** A gauge family. */
  gauge(
    name: string,
    help: string,
    options?: FamilyOptions,
  ): MetricFamily<"gauge"> {
    return this.#add(new MetricFamily(name, help, "gauge", options));
  }

  /** A histogram family (`options.buckets`: its upper bounds). */
  histogram(
    name: string,
    help: string,
    options?: FamilyOptions,
  ): MetricFamily<"histogram"> {
    return this.#add(new MetricFamily(name, help, "histogram", options));
  }

  /** Runs `collect` before every read; returns a function that removes it. */
  collect(collect: Collector): () => void {
    this.#collectors.add(collect);
    return () => this.#collectors.delete(collect);
  }

  /** The family called `name`, if any. */
  get(name: string): MetricFamily | undefined {
    return this.#families.get(name);
  }

  /** Runs the collectors, then returns every family in registration order. */
  families(): MetricFamily[] {
    for (const collect of this.#collectors) collect();
    return [...this.#families.values()];
  }

  #add<T extends MetricType>(family: MetricFamily<T>): MetricFamily<T> {
    if (this.#families.has(family.name)) {
      throw new TypeError(
        `A metric called '${family.name}' is already registered`,
      );
    }
    this.#families.set(family.name, family as unknown as MetricFamily);
    return family;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function assertName(name: string): void {
  if (!NAME.test(name)) {
    throw new TypeError(`'${name}' is not a valid metric or label name`);
  }
}
