// Formatting shared by the dashboards. Money is integer cents, energy integer Wh,
// power integer W on the wire; the page shows EUR (2 decimals), kWh (3), kW (2).
// Times are shown in the browser's local time as HH:MM:SS.

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function eur(cents) {
  return `${(num(cents) / 100).toFixed(2)} EUR`;
}

export function kwh(wh) {
  return `${(num(wh) / 1000).toFixed(3)} kWh`;
}

export function kw(w) {
  return `${(num(w) / 1000).toFixed(2)} kW`;
}

export function pricePerKwh(centsPerKwh) {
  return `${(num(centsPerKwh) / 100).toFixed(2)} EUR/kWh`;
}

const pad2 = (n) => String(n).padStart(2, '0');

/** HH:MM:SS in local time; "—" for 0 / missing (the wire's "not yet"). */
export function time(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** "YYYY-MM-DD HH:MM:SS" local, for tooltips. */
export function dateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time(ms)}`;
}

/** Compact duration: "45 s", "12 min", "3 h 05 min", "2 d 4 h". */
export function duration(ms) {
  const s = Math.max(0, Math.floor(num(ms) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${pad2(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Integer with no decimals ("—" when missing). */
export function count(n) {
  return typeof n === 'number' && Number.isFinite(n) ? String(n) : '—';
}

/**
 * Parses a price typed in EUR/kWh ("0.35", "0,35", ".5") into integer cents.
 * Returns null when it is not a positive amount with at most 2 decimals.
 */
export function parseEurToCents(text) {
  const t = String(text ?? '').trim().replace(',', '.');
  if (!/^\d*(\.\d{0,2})?$/.test(t) || t === '' || t === '.') return null;
  const [whole, frac = ''] = t.split('.');
  const cents = Number(whole || '0') * 100 + Number((frac + '00').slice(0, 2));
  return Number.isSafeInteger(cents) && cents > 0 ? cents : null;
}
