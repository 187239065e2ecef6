// The monitor's two charts (uPlot): the engine's health checks (round-trip time of each
// answered check, KO and "no answer" marked) and the engine's usage (power and energy of
// the current supply). Both keep at most the monitor's ring size of points (an hour at 1 s).
import uPlot from './vendor/uPlot.esm.js';
import { cssVar, hhmm, niceMax } from './shared/chart-util.js';

function theme() {
  return {
    axis: cssVar('--muted', '#8e99ab'),
    grid: 'rgba(255,255,255,0.06)',
    font: `11px ${cssVar('--font', 'system-ui, sans-serif')}`,
    ok: cssVar('--ok', '#3fb950'),
    danger: cssVar('--danger', '#f05252'),
    warn: cssVar('--warn', '#e3a008'),
    accent: cssVar('--accent', '#4c9aff'),
  };
}

function timeAxis(t) {
  return {
    stroke: t.axis, font: t.font, size: 30, space: 70,
    // whole seconds at least: sub-second ticks would print the same HH:MM:SS twice
    incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid, width: 1, size: 4 },
    values: (u, splits) => {
      const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
      return splits.map((s) => hhmm(s, span < 300));
    },
  };
}

function valueAxis(t, { side = 3, decimals, scale } = {}) {
  return {
    scale, side, stroke: t.axis, font: t.font, size: 50,
    grid: side === 3 ? { stroke: t.grid, width: 1 } : { show: false },
    ticks: { show: false },
    values: (u, splits) => {
      // enough decimals to tell the ticks apart (0.005 kWh steps need 3)
      const stepV = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
      const d = decimals ?? Math.min(3, Math.max(0, -Math.floor(Math.log10(stepV || 1) + 1e-9)));
      return splits.map((v) => v.toFixed(d));
    },
  };
}

/** Base: a uPlot in `container` created when it has a width, resized with it. */
function lazyPlot(container, makeOpts, cap) {
  const cols = makeOpts.columns;
  const data = Array.from({ length: cols }, () => []);
  let plot = null;
  const size = () => ({
    width: Math.max(200, Math.floor(container.clientWidth - 8)),
    height: Math.max(140, Math.floor(container.clientHeight - 14)),
  });
  function ensure() {
    if (plot || container.clientWidth === 0) return;
    plot = new uPlot({ ...size(), ...makeOpts.opts() }, data, container);
    new ResizeObserver(() => { if (plot && container.clientWidth > 0) plot.setSize(size()); }).observe(container);
  }
  function trim() {
    const extra = data[0].length - cap;
    if (extra > 0) for (const a of data) a.splice(0, extra);
  }
  return {
    data,
    clear() { for (const a of data) a.length = 0; },
    add(row) {
      const x = row[0];
      const n = data[0].length;
      if (n && x < data[0][n - 1]) return; // out of order: never from one monitor
      row.forEach((v, i) => data[i].push(v));
    },
    draw() {
      trim();
      container.dataset.points = String(data[0].length);
      ensure();
      if (plot) plot.setData(data);
    },
  };
}

/**
 * Health: x = check time (s); y = round trip in ms. Series: OK (line + points), KO (red
 * points at their round trip), no answer (amber marks along the top, own 0..1 scale).
 */
export function createHealthChart(container, cap = 3600) {
  const t = theme();
  const lp = lazyPlot(container, {
    columns: 4,
    opts: () => ({
      padding: [10, 12, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
      scales: {
        x: { time: true },
        ms: { range: (u, min, max) => [0, niceMax(Math.max(max ?? 0, 1))] },
        flag: { range: [0, 1] },
      },
      axes: [timeAxis(t), { ...valueAxis(t, { scale: 'ms' }), label: 'ms', labelSize: 14, labelFont: t.font }],
      series: [
        { label: 'Time' },
        { label: 'OK', scale: 'ms', stroke: t.ok, width: 1.5, fill: 'rgba(63,185,80,0.10)', spanGaps: false,
          points: { show: true, size: 3, fill: t.ok, stroke: t.ok } },
        { label: 'KO', scale: 'ms', stroke: t.danger, width: 0, paths: () => null,
          points: { show: true, size: 6, fill: t.danger, stroke: t.danger } },
        { label: 'No answer', scale: 'flag', stroke: t.warn, width: 0, paths: () => null,
          points: { show: true, size: 6, fill: t.warn, stroke: t.warn } },
      ],
    }),
  }, cap);
  return {
    /** checks: [[ts_ms, 'ok'|'ko'|'none', rtt_us|null], ...] */
    add(checks, reset = false) {
      if (reset) lp.clear();
      for (const c of checks || []) {
        if (!Array.isArray(c) || c.length < 3) continue;
        const x = Number(c[0]) / 1000;
        const ms = typeof c[2] === 'number' ? c[2] / 1000 : null;
        lp.add([x, c[1] === 'ok' ? ms : null, c[1] === 'ko' ? (ms ?? 0) : null, c[1] === 'none' ? 0.94 : null]);
      }
      lp.draw();
    },
    get count() { return lp.data[0].length; },
  };
}

/** Usage: x = PONG time (s); power in kW (left), energy of the supply in kWh (right). */
export function createUsageChart(container, cap = 3600) {
  const t = theme();
  const lp = lazyPlot(container, {
    columns: 3,
    opts: () => ({
      padding: [10, 8, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
      scales: {
        x: { time: true },
        kw: { range: (u, min, max) => [0, niceMax(max)] },
        kwh: { range: (u, min, max) => [0, niceMax(max)] },
      },
      axes: [
        timeAxis(t),
        { ...valueAxis(t, { scale: 'kw' }), label: 'kW', labelSize: 14, labelFont: t.font },
        { ...valueAxis(t, { scale: 'kwh', side: 1 }), label: 'kWh', labelSize: 14, labelFont: t.font },
      ],
      series: [
        { label: 'Time' },
        { label: 'Power', scale: 'kw', stroke: t.accent, width: 2, fill: 'rgba(76,154,255,0.14)', points: { show: false } },
        { label: 'Energy', scale: 'kwh', stroke: t.ok, width: 1.5, dash: [5, 4], points: { show: false } },
      ],
    }),
  }, cap);
  return {
    /** usage: [[ts_ms, w, wh], ...] */
    add(usage, reset = false) {
      if (reset) lp.clear();
      for (const u of usage || []) {
        if (!Array.isArray(u) || u.length < 3) continue;
        lp.add([Number(u[0]) / 1000, Number(u[1]) / 1000, Number(u[2]) / 1000]);
      }
      lp.draw();
    },
    get count() { return lp.data[0].length; },
  };
}
