// prom-client's index loads every part (cluster aggregation with node:cluster, the push gateway,
// the default process metrics); the delegate takes by file the four it uses (metrics.ts), which
// its build then bundles alone. prom-client has no "exports" map, so the files are reachable;
// their types are the index's.
declare module 'prom-client/lib/registry.js' {
  import { Registry } from 'prom-client'
  export default Registry
}
declare module 'prom-client/lib/counter.js' {
  import { Counter } from 'prom-client'
  export default Counter
}
declare module 'prom-client/lib/gauge.js' {
  import { Gauge } from 'prom-client'
  export default Gauge
}
declare module 'prom-client/lib/histogram.js' {
  import { Histogram } from 'prom-client'
  export default Histogram
}
