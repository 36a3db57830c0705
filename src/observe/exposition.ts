/**
 * The Prometheus text exposition format (version 0.0.4) of a {@linkcode MetricsRegistry}:
 * `# HELP` and `# TYPE` lines, one sample per child, histograms as cumulative `_bucket{le}`
 * samples with `_sum` and `_count`.
 *
 * @module
 */
import type { MetricFamily, MetricsRegistry } from "./registry.ts";
import { Counter, Gauge, Histogram } from "./registry.ts";

/** The `Content-Type` of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The registry's families in the Prometheus text format. */
export function renderPrometheus(registry: MetricsRegistry): string {
  const lines: string[] = [];
  for (const family of registry.families()) writeFamily(family, lines);
  return lines.join("\n") + "\n";
}

function writeFamily(family: MetricFamily, lines: string[]): void {
  const { name, labelNames } = family;
  lines.push(`# HELP ${name} ${escapeHelp(family.help)}`);
  lines.push(`# TYPE ${name} ${family.type}`);
  for (const { values, child } of family.children()) {
    const labels = labelNames.map((n, i) => `${n}="${escapeLabel(values[i])}"`);
    if (child instanceof Histogram) {
      let cumulative = 0;
      for (let i = 0; i <= child.bounds.length; i++) {
        cumulative += child.counts[i];
        const le = i < child.bounds.length ? formatNumber(child.bounds[i]) : "+Inf";
        lines.push(
          `${name}_bucket${braces([...labels, `le="${le}"`])} ${formatNumber(cumulative)}`,
        );
      }
      lines.push(`${name}_sum${braces(labels)} ${formatNumber(child.sum)}`);
      lines.push(`${name}_count${braces(labels)} ${formatNumber(child.count)}`);
    } else if (child instanceof Counter || child instanceof Gauge) {
      lines.push(`${name}${braces(labels)} ${formatNumber(child.value)}`);
    }
  }
}

function braces(labels: string[]): string {
  return labels.length ? `{${labels.join(",")}}` : "";
}

/** A sample value: `+Inf`, `-Inf`, `NaN` or the number. */
export function formatNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
