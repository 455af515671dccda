/**
 * Progress of a batch on stderr: a redrawn bar with rate and ETA on a terminal, plain lines every
 * few seconds otherwise (logs and CI keep a readable record without carriage-return noise).
 */
import type { BatchProgress } from '../batch';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const BAR_REDRAW_MS = 100;
const LINE_INTERVAL_MS = 2000;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export class ProgressReporter {
  private lastDraw = 0;
  private drewBar = false;

  /** `total` counts the images to enhance (not those skipped); `interval` overrides the plain-line period. */
  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
    private readonly interval = LINE_INTERVAL_MS,
  ) {}

  update(progress: BatchProgress): void {
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    const last = progress.done >= this.total;
    if (!last && now - this.lastDraw < (tty ? BAR_REDRAW_MS : this.interval)) return;
    if (!tty && last) return; // the summary that follows says the same
    this.lastDraw = now;
    if (tty) {
      this.stream.write(`\r${this.barLine(progress)}\x1b[K`);
      this.drewBar = true;
    } else {
      this.stream.write(`flwnet: ${this.plainLine(progress)}\n`);
    }
  }

  /** Ends the bar's line so what follows starts on a fresh one. */
  finish(): void {
    if (this.drewBar) this.stream.write('\n');
    this.drewBar = false;
  }

  private rates(progress: BatchProgress) {
    const perSecond = progress.elapsedSeconds > 0 ? progress.done / progress.elapsedSeconds : 0;
    const eta = perSecond > 0 ? (this.total - progress.done) / perSecond : Infinity;
    return { perSecond, eta };
  }

  private barLine(progress: BatchProgress): string {
    const { perSecond, eta } = this.rates(progress);
    const failed = progress.failed > 0 ? ` ${progress.failed} failed` : '';
    const text =
      ` ${progress.done}/${this.total}${failed}  ${perSecond.toFixed(1)} img/s  ` +
      `${progress.mpixPerSecond.toFixed(1)} MPix/s  ETA ${formatDuration(eta)}`;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - text.length - 3));
    const filled = this.total > 0 ? Math.round((width * progress.done) / this.total) : width;
    return `[${'='.repeat(filled)}${' '.repeat(width - filled)}]${text}`;
  }

  private plainLine(progress: BatchProgress): string {
    const { perSecond, eta } = this.rates(progress);
    const failed = progress.failed > 0 ? ` (${progress.failed} failed)` : '';
    return (
      `${progress.done}/${this.total} images${failed}, ${perSecond.toFixed(1)} images/s, ` +
      `${progress.mpixPerSecond.toFixed(1)} MPix/s, ETA ${formatDuration(eta)}`
    );
  }
}
