/**
 * The training curve as a self-contained SVG: the training loss per step (raw, faint, and an
 * exponential moving average) on the left axis and validation PSNR on the right, against step.
 */

export interface CurvePoint {
  step: number;
  value: number;
}

export interface CurveData {
  loss: CurvePoint[];
  psnr: CurvePoint[];
  title?: string;
}

const WIDTH = 900;
const HEIGHT = 450;
const MARGIN = { left: 70, right: 70, top: 40, bottom: 50 };
const LOSS_COLOUR = '#1f77b4';
const PSNR_COLOUR = '#d62728';
const MAX_POINTS = 1500;

/** About `count` round tick values covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function range(values: number[], pad: number): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (high - low < 1e-12) [low, high] = [low - 0.5, high + 0.5];
  const margin = (high - low) * pad;
  return [low - margin, high + margin];
}

/** Every n-th point, so the SVG stays small for long runs (the last point always kept). */
function thin(points: CurvePoint[]): CurvePoint[] {
  if (points.length <= MAX_POINTS) return points;
  const every = Math.ceil(points.length / MAX_POINTS);
  return points.filter((_, i) => i % every === 0 || i === points.length - 1);
}

function movingAverage(points: CurvePoint[]): CurvePoint[] {
  const alpha = Math.min(0.5, 20 / Math.max(1, points.length));
  let ema: number | undefined;
  return points.map((p) => {
    if (Number.isFinite(p.value)) ema = ema === undefined ? p.value : ema + alpha * (p.value - ema);
    return { step: p.step, value: ema ?? Number.NaN };
  });
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function format(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

export function trainingCurveSvg(data: CurveData): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const steps = [...data.loss, ...data.psnr].map((p) => p.step);
  const [x0, x1] = steps.length > 0 ? [Math.min(0, ...steps), Math.max(1, ...steps)] : [0, 1];
  const [l0, l1] = range(data.loss.map((p) => p.value), 0.05);
  const [p0, p1] = range(data.psnr.map((p) => p.value), 0.1);
  const sx = (s: number) => MARGIN.left + ((s - x0) / (x1 - x0)) * plotW;
  const sl = (v: number) => MARGIN.top + plotH - ((v - l0) / (l1 - l0)) * plotH;
  const sp = (v: number) => MARGIN.top + plotH - ((v - p0) / (p1 - p0)) * plotH;
  const path = (points: CurvePoint[], sy: (v: number) => number) =>
    points.filter((p) => Number.isFinite(p.value)).map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join('');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escape(data.title ?? 'FLW-Net training')}</text>`);
  for (const t of niceTicks(x0, x1, 8)) {
    out.push(`<line x1="${sx(t)}" y1="${MARGIN.top}" x2="${sx(t)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${sx(t)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${format(t)}</text>`);
  }
  for (const t of niceTicks(l0, l1)) {
    out.push(`<line x1="${MARGIN.left}" y1="${sl(t)}" x2="${MARGIN.left + plotW}" y2="${sl(t)}" stroke="#eee"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${sl(t) + 4}" text-anchor="end" fill="${LOSS_COLOUR}">${format(t)}</text>`);
  }
  if (data.psnr.length > 0) {
    for (const t of niceTicks(p0, p1)) {
      out.push(`<text x="${MARGIN.left + plotW + 6}" y="${sp(t) + 4}" fill="${PSNR_COLOUR}">${format(t)}</text>`);
    }
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  const loss = thin(data.loss);
  out.push(`<path d="${path(loss, sl)}" fill="none" stroke="${LOSS_COLOUR}" stroke-opacity="0.3" stroke-width="1"/>`);
  out.push(`<path d="${path(movingAverage(data.loss).filter((_, i, a) => a.length <= MAX_POINTS || i % Math.ceil(a.length / MAX_POINTS) === 0), sl)}" fill="none" stroke="${LOSS_COLOUR}" stroke-width="2"/>`);
  if (data.psnr.length > 0) {
    out.push(`<path d="${path(data.psnr, sp)}" fill="none" stroke="${PSNR_COLOUR}" stroke-width="2"/>`);
    for (const p of data.psnr.filter((q) => Number.isFinite(q.value))) out.push(`<circle cx="${sx(p.step).toFixed(1)}" cy="${sp(p.value).toFixed(1)}" r="3" fill="${PSNR_COLOUR}"/>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">step</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${LOSS_COLOUR}">training loss (L_ALL)</text>`);
  if (data.psnr.length > 0) {
    out.push(`<text transform="translate(${WIDTH - 16} ${MARGIN.top + plotH / 2}) rotate(90)" text-anchor="middle" fill="${PSNR_COLOUR}">validation PSNR (dB)</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
