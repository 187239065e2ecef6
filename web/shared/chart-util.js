// Small helpers of the dashboards' uPlot charts: time labels, a round upper
// bound for the y axis, the theme's CSS variables.
const pad2 = (n) => String(n).padStart(2, '0');

/** "HH:MM" (or "HH:MM:SS") in the browser's local time of a time in seconds. */
export function hhmm(sec, withSeconds) {
  const d = new Date(sec * 1000);
  const base = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return withSeconds ? `${base}:${pad2(d.getSeconds())}` : base;
}

/** A round number a little above v (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n); 1 for v <= 0. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const top = v * 1.15;
  const mag = 10 ** Math.floor(Math.log10(top));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= top) return m * mag;
  return 10 * mag;
}

/** The value of a CSS custom property of the page, or fallback. */
export const cssVar = (name, fallback) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
