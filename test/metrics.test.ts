// The metrics registry: Prometheus text with escaped labels, cumulative histograms, the register() hook others use,
// bounded series, and promtool's approval of all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Metrics, MAX_SERIES } from '../src/metrics.js';
import { haveCommand } from './helpers/fixtures.js';

test('counters, gauges and histograms render as Prometheus text; label values are escaped', () => {
  const m = new Metrics();
  const c = m.counter('t_requests_total', 'Requests.\nSecond line \\ here.', ['route']);
  c.inc({ route: 'a"b\\c\nd' });
  c.inc({ route: 'x' }, 2);
  c.inc({ route: 'x' }, -5); // ignored: counters only go up
  m.gauge('t_up', 'Up.', ['store']).set({ store: 1 }, 1);
  const h = m.histogram('t_seconds', 'Latency.', ['op'], [0.1, 1]);
  h.observe({ op: 'get' }, 0.05);
  h.observe({ op: 'get' }, 0.5);
  h.observe({ op: 'get' }, 5);
  assert.equal(
    m.render(),
    [
      '# HELP t_requests_total Requests.\\nSecond line \\\\ here.',
      '# TYPE t_requests_total counter',
      't_requests_total{route="a\\"b\\\\c\\nd"} 1',
      't_requests_total{route="x"} 2',
      '# HELP t_up Up.',
      '# TYPE t_up gauge',
      't_up{store="1"} 1',
      '# HELP t_seconds Latency.',
      '# TYPE t_seconds histogram',
      't_seconds_bucket{op="get",le="0.1"} 1',
      't_seconds_bucket{op="get",le="1"} 2',
      't_seconds_bucket{op="get",le="+Inf"} 3',
      't_seconds_sum{op="get"} 5.55',
      't_seconds_count{op="get"} 3',
      '',
    ].join('\n'),
  );
  if (haveCommand('promtool')) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: m.render(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
});

test('register(): a family computed at each render (the patrol hook), replaceable and removable; a throwing one is left out', () => {
  const m = new Metrics();
  let coverage = 0.25;
  const off = m.register({ name: 'blockframe_scrub_coverage_ratio', help: 'Share scrubbed in the period.', type: 'gauge', collect: () => [{ value: coverage }] });
  m.register({ name: 't_broken', help: 'Throws.', type: 'gauge', collect: () => { throw new Error('no'); } });
  assert.match(m.render(), /^blockframe_scrub_coverage_ratio 0\.25$/m);
  coverage = 1;
  assert.match(m.render(), /^blockframe_scrub_coverage_ratio 1$/m);
  assert.doesNotMatch(m.render(), /t_broken/);
  off();
  assert.doesNotMatch(m.render(), /scrub/);
  assert.throws(() => m.register({ name: 'bad name', help: '', type: 'gauge', collect: () => [] }), TypeError);
  m.counter('t_c_total', 'c');
  assert.equal(m.counter('t_c_total', 'c'), m.counter('t_c_total', 'c'), 'the same family twice is shared');
  assert.throws(() => m.gauge('t_c_total', 'c'), TypeError);
  assert.throws(() => m.counter('t_x_total', 'x', ['le']), TypeError);
  assert.throws(() => m.counter('t_y_total', 'y', ['a']).inc({ b: 1 }), TypeError);
});

test('a family holds at most MAX_SERIES series (memory stays bounded if a label ever ran away)', () => {
  const m = new Metrics();
  const c = m.counter('t_many_total', 'many', ['k']);
  for (let i = 0; i < MAX_SERIES + 50; i++) c.inc({ k: i });
  assert.equal(m.render().split('\n').filter((l) => l.startsWith('t_many_total{')).length, MAX_SERIES);
});
