// Types for the test-only npm packages that ship none the compiler can reach.

// w3c-xmlhttprequest has types, but its package.json "exports" hides them from moduleResolution
// "bundler". Only what the tests use.
declare module "w3c-xmlhttprequest" {
  export class XMLHttpRequest {
    open(method: string, url: string): void;
    setRequestHeader(name: string, value: string): void;
    getResponseHeader(name: string): string | null;
    addEventListener(type: "loadend", listener: () => void): void;
  }
}

// parse-prometheus-text-format: the prom2json-shaped result (values are strings, as there).
declare module "parse-prometheus-text-format" {
  export interface PromSample {
    labels?: Record<string, string>;
    value?: string;
  }
  export interface PromHistogramSample {
    labels?: Record<string, string>;
    buckets: Record<string, string>;
    count: string;
    sum: string;
  }
  export interface PromFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: (PromSample & Partial<PromHistogramSample>)[];
  }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
