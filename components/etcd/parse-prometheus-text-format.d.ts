// parse-prometheus-text-format ships no types; this is the shape its README documents (prom2json's).
declare module "parse-prometheus-text-format" {
  type Labels = Record<string, string>;
  interface ValueMetric {
    labels?: Labels;
    value: string;
  }
  interface HistogramMetric {
    labels?: Labels;
    buckets: Record<string, string>;
    count: string;
    sum: string;
  }
  interface SummaryMetric {
    labels?: Labels;
    quantiles: Record<string, string>;
    count: string;
    sum: string;
  }
  interface MetricFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: (ValueMetric | HistogramMetric | SummaryMetric)[];
  }
  function parsePrometheusTextFormat(text: string): MetricFamily[];
  export = parsePrometheusTextFormat;
}
