// The metric families of a serving process: HTTP requests, store calls, heals on read, memory; and the hook others use.
import type { Counter, Gauge, Histogram } from '../metrics.js';
import { Metrics } from '../metrics.js';
import type { StoreCallObserver } from '../store/wrap.js';

/** What the HTTP frontends count for each request (see src/http/observe.ts). */
export interface HttpMetrics {
  requests: Counter;
  seconds: Histogram;
  sentBytes: Counter;
  receivedBytes: Counter;
  inFlight: Gauge;
}

/** The families every serving process has; `metrics` is the registry the patrol and others add to. */
export interface ServeMetrics {
  metrics: Metrics;
  http: HttpMetrics;
  /** Hand this to the stores (StoreOptions.observe): per-store call counts, latency and bytes. */
  storeCalls: StoreCallObserver;
  /** Files rebuilt from parity on read (each damaged file once per archive until its repair). */
  healsOnRead: Counter;
  /** Archive reads that hit damage beyond repair. */
  unrecoverableReads: Counter;
}

/**
 * Create the registry with the standard families (names and help in docs/http-api.md, "Metrics"). Store numbers in
 * labels are 1-based; no label carries a path, a name or another unbounded value.
 */
export function createServeMetrics(metrics = new Metrics()): ServeMetrics {
  const http: HttpMetrics = {
    requests: metrics.counter('blockframe_http_requests_total', 'HTTP requests answered, by server (files or s3), route, method and status code.', ['server', 'route', 'method', 'code']),
    seconds: metrics.histogram('blockframe_http_request_duration_seconds', 'Time from a request to the end of its response, in seconds, by server and route.', ['server', 'route']),
    sentBytes: metrics.counter('blockframe_http_sent_bytes_total', 'Response body bytes sent, by server and route.', ['server', 'route']),
    receivedBytes: metrics.counter('blockframe_http_received_bytes_total', 'Request bytes received (request line, headers and body), by server.', ['server']),
    inFlight: metrics.gauge('blockframe_http_requests_in_flight', 'Requests being answered now, by server.', ['server']),
  };
  const calls = metrics.counter('blockframe_store_calls_total', 'Store calls, by store (1-based), operation and result (ok or error).', ['store', 'op', 'result']);
  const callSeconds = metrics.histogram('blockframe_store_call_duration_seconds', 'Store call latency in seconds (retries included; a listing from start to end), by store and operation.', ['store', 'op']);
  const readBytes = metrics.counter('blockframe_store_read_bytes_total', 'Bytes read from a store, by store.', ['store']);
  const writtenBytes = metrics.counter('blockframe_store_written_bytes_total', 'Bytes written to a store, by store.', ['store']);
  const storeCalls: StoreCallObserver = {
    call(d, op, seconds, ok, bytes) {
      const store = d + 1;
      calls.inc({ store, op, result: ok ? 'ok' : 'error' });
      callSeconds.observe({ store, op }, seconds);
      if (bytes > 0 && op === 'get') readBytes.inc({ store }, bytes);
      if (bytes > 0 && op === 'put') writtenBytes.inc({ store }, bytes);
    },
  };
  const healsOnRead = metrics.counter('blockframe_heals_on_read_total', 'Damaged files rebuilt from parity while being read (each once per archive until it is repaired).');
  const unrecoverableReads = metrics.counter('blockframe_unrecoverable_reads_total', 'Reads that failed because data was damaged beyond repair.');
  const started = Date.now() / 1000;
  metrics.register({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch, in seconds.', type: 'gauge', collect: () => [{ value: started }] });
  metrics.register({ name: 'process_resident_memory_bytes', help: 'Resident memory size, in bytes.', type: 'gauge', collect: () => [{ value: process.memoryUsage.rss() }] });
  return { metrics, http, storeCalls, healsOnRead, unrecoverableReads };
}
