// Power chart (uPlot), shared by the dashboards: kW over the last 10 minutes,
// one point per second. `label` names the series ("Total power" on the admin
// page, "Power" on the driver's); `grow: true` starts the time axis at the
// first point (a supply's own chart) instead of sliding a full 10 minutes.
import uPlot from '../vendor/uPlot.esm.js';
import { cssVar, hhmm, niceMax } from './chart-util.js';

const WINDOW_S = 600;

export function createPowerChart(container, { onStats, onHover, label = 'Power', grow = false } = {}) {
  const xs = [];
  const ys = [];
  let endSec = Date.now() / 1000;
  let plot = null;
  let ro = null;

  const axisColor = cssVar('--muted', '#8e99ab');
  const gridColor = 'rgba(255,255,255,0.06)';
  const lineColor = cssVar('--accent', '#4c9aff');
  const font = `11px ${cssVar('--font', 'system-ui, sans-serif')}`;

  function size() {
    const w = Math.max(200, Math.floor(container.clientWidth - 8));
    const h = Math.max(140, Math.floor(container.clientHeight - 14));
    return { width: w, height: h };
  }

  function stats() {
    if (!onStats) return;
    let peak = 0;
    for (const y of ys) if (y > peak) peak = y;
    onStats({ now: ys.length ? ys[ys.length - 1] : null, peak: ys.length ? peak : null });
  }

  function create() {
    if (plot || container.clientWidth === 0) return;
    const opts = {
      ...size(),
      padding: [8, 12, 0, 0],
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7, fill: lineColor } },
      legend: { show: false },
      hooks: {
        setCursor: [(u) => {
          if (!onHover) return;
          const i = u.cursor.idx;
          onHover(i == null || u.cursor.left < 0 || xs[i] == null ? null : { x: xs[i], y: ys[i] });
        }],
      },
      scales: {
        x: {
          time: true,
          range: () => {
            if (!grow) return [endSec - WINDOW_S, endSec];
            const first = xs.length ? xs[0] : endSec;
            return [Math.max(first, endSec - WINDOW_S), Math.max(endSec, first + 60)];
          },
        },
        y: { range: (u, min, max) => [0, niceMax(max)] },
      },
      axes: [
        {
          stroke: axisColor, font, size: 30, space: 55,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1, size: 4 },
          values: (u, splits) => splits.map((s) => hhmm(s, false)),
        },
        {
          stroke: axisColor, font, size: 44,
          grid: { stroke: gridColor, width: 1 },
          ticks: { show: false },
          values: (u, splits) => {
            const dec = splits.every((v) => Math.abs(v - Math.round(v)) < 1e-9) ? 0 : 1;
            return splits.map((v) => v.toFixed(dec));
          },
        },
      ],
      series: [
        { label: 'Time', value: (u, v) => (v == null ? '—' : hhmm(v, true)) },
        {
          label,
          stroke: lineColor,
          width: 2,
          fill: 'rgba(76,154,255,0.14)',
          points: { show: false },
          value: (u, v) => (v == null ? '—' : `${v.toFixed(2)} kW`),
        },
      ],
    };
    plot = new uPlot(opts, [xs, ys], container);
    ro = new ResizeObserver(() => {
      if (plot && container.clientWidth > 0) plot.setSize(size());
    });
    ro.observe(container);
  }

  function trim() {
    const from = endSec - WINDOW_S - 2;
    let n = 0;
    while (n < xs.length && xs[n] < from) n++;
    if (n) {
      xs.splice(0, n);
      ys.splice(0, n);
    }
  }

  function redraw() {
    trim();
    stats();
    if (!plot) create();
    if (plot) plot.setData([xs, ys]);
  }

  return {
    /** Replaces all points: power = [[t_ms, w], ...]. */
    reset(power, nowMs) {
      xs.length = 0;
      ys.length = 0;
      const pts = (Array.isArray(power) ? power : [])
        .filter((p) => Array.isArray(p) && p.length >= 2)
        .map((p) => [Number(p[0]) / 1000, Number(p[1]) / 1000])
        .sort((a, b) => a[0] - b[0]);
      for (const [x, y] of pts) {
        if (xs.length && xs[xs.length - 1] === x) ys[ys.length - 1] = y;
        else { xs.push(x); ys.push(y); }
      }
      endSec = Math.max(nowMs ? nowMs / 1000 : Date.now() / 1000, xs.length ? xs[xs.length - 1] : 0);
      redraw();
    },
    /** Adds one point [t_ms, w]. */
    push(point, nowMs) {
      if (Array.isArray(point) && point.length >= 2) {
        const x = Number(point[0]) / 1000;
        const y = Number(point[1]) / 1000;
        if (!xs.length || x > xs[xs.length - 1]) { xs.push(x); ys.push(y); }
        else if (x === xs[xs.length - 1]) ys[ys.length - 1] = y;
      }
      endSec = Math.max(nowMs ? nowMs / 1000 : endSec, xs.length ? xs[xs.length - 1] : 0);
      redraw();
    },
    /** Call when the container became visible (creates the plot if it could not yet). */
    refresh() {
      redraw();
    },
  };
}
