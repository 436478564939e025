// <olympix-line-chart>: a small hand-written SVG line chart for the cluster view. A
// time axis over the last window, one line per series, short marks along the bottom
// for events (the Berkeley rounds), and an axis that grows with the data but never
// shrinks below `minRange`. It draws at its real pixel width (a ResizeObserver), so
// that text stays the same size on a phone and a laptop.

import { css, html, LitElement, svg, type SVGTemplateResult, type TemplateResult } from 'lit';
import { niceCeiling } from './cluster-model.js';

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
  /** [time ms, value] in time order; a time gap longer than `gapMs` breaks the line. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Drawn thicker and filled below (e.g. the largest skew). */
  emphasis?: boolean;
}

export interface ChartMarker {
  atMs: number;
  title: string;
  /** 0..1: how tall the mark is (e.g. how much that round adjusted). */
  strength: number;
}

const PAD = { left: 46, right: 10, top: 18, bottom: 34 } as const;
const MARK_BAND_PX = 12;

export class OlympixLineChart extends LitElement {
  static override properties = {
    series: { attribute: false },
    markers: { attribute: false },
    windowMs: { type: Number },
    endMs: { type: Number },
    mode: { type: String },
    minRange: { type: Number },
    unit: { type: String },
    chartHeight: { type: Number },
    label: { type: String },
    width: { state: true },
  };

  static override styles = css`
    :host {
      display: block;
      width: 100%;
    }
    svg {
      display: block;
      width: 100%;
      overflow: visible;
      font-family: inherit;
    }
    .grid {
      stroke: var(--line, #ddd);
      stroke-width: 1;
    }
    .zero {
      stroke: var(--muted, #888);
      stroke-width: 1;
    }
    .tick {
      fill: var(--muted, #666);
      font-size: 11px;
      font-variant-numeric: tabular-nums;
    }
    .mark {
      stroke: var(--accent, #1f5fa8);
      stroke-width: 1.5;
      opacity: 0.55;
    }
    .marks-label {
      fill: var(--muted, #666);
      font-size: 10px;
    }
    path.line {
      fill: none;
      stroke-width: 2;
      stroke-linejoin: round;
      stroke-linecap: round;
    }
    path.line.emphasis {
      stroke-width: 2.5;
    }
    path.area {
      opacity: 0.12;
      stroke: none;
    }
  `;

  declare series: ChartSeries[];
  declare markers: ChartMarker[];
  declare windowMs: number;
  /** The right edge of the time axis (the page's now). */
  declare endMs: number;
  /** symmetric: around zero (offsets); positive: from zero up (skew). */
  declare mode: 'symmetric' | 'positive';
  declare minRange: number;
  declare unit: string;
  declare chartHeight: number;
  declare label: string;
  declare private width: number;
  /** A break in the line where samples are further apart than this. */
  gapMs = 2_500;

  private observer: ResizeObserver | null = null;

  constructor() {
    super();
    this.series = [];
    this.markers = [];
    this.windowMs = 60_000;
    this.endMs = 0;
    this.mode = 'symmetric';
    this.minRange = 2;
    this.unit = 'ms';
    this.chartHeight = 190;
    this.label = 'chart';
    this.width = 600;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (typeof ResizeObserver === 'function') {
      this.observer = new ResizeObserver((entries) => {
        const width = Math.round(entries[0]?.contentRect.width ?? 0);
        if (width > 0 && Math.abs(width - this.width) >= 1) this.width = width;
      });
      this.observer.observe(this);
    }
  }

  override disconnectedCallback(): void {
    this.observer?.disconnect();
    this.observer = null;
    super.disconnectedCallback();
  }

  override render(): TemplateResult {
    const width = Math.max(240, this.width);
    const height = this.chartHeight;
    const plotLeft = PAD.left;
    const plotRight = width - PAD.right;
    const plotTop = PAD.top;
    const plotBottom = height - PAD.bottom;
    const startMs = this.endMs - this.windowMs;
    const x = (atMs: number) => plotLeft + ((atMs - startMs) / this.windowMs) * (plotRight - plotLeft);

    let extent = 0;
    for (const series of this.series) {
      for (const [atMs, value] of series.points) if (atMs >= startMs && Number.isFinite(value)) extent = Math.max(extent, Math.abs(value));
    }
    const top = niceCeiling(extent * 1.1, this.minRange);
    const bottom = this.mode === 'symmetric' ? -top : 0;
    const y = (value: number) => plotBottom - ((Math.max(bottom, Math.min(top, value)) - bottom) / (top - bottom)) * (plotBottom - plotTop);
    const yTicks = this.mode === 'symmetric' ? [top, top / 2, 0, -top / 2, -top] : [top, top / 2, 0];
    const xTicks = [0, 0.25, 0.5, 0.75, 1].map((fraction) => startMs + fraction * this.windowMs);

    const grid = yTicks.map(
      (value) => svg`<line class=${value === 0 ? 'zero' : 'grid'} x1=${plotLeft} x2=${plotRight} y1=${y(value)} y2=${y(value)}></line>
        <text class="tick" x=${plotLeft - 6} y=${y(value) + 4} text-anchor="end">${formatTick(value, this.mode === 'symmetric')}</text>`,
    );
    const timeLabels = xTicks.map((atMs, index) => {
      const secondsAgo = Math.round((this.endMs - atMs) / 1000);
      const anchor = index === 0 ? 'start' : index === xTicks.length - 1 ? 'end' : 'middle';
      return svg`<text class="tick" x=${x(atMs)} y=${height - 4} text-anchor=${anchor}>${secondsAgo === 0 ? 'now' : `−${secondsAgo} s`}</text>`;
    });
    const markBase = plotBottom + MARK_BAND_PX + 2;
    const marks = this.markers
      .filter((marker) => marker.atMs >= startMs && marker.atMs <= this.endMs)
      .map(
        (marker) =>
          svg`<line class="mark" x1=${x(marker.atMs)} x2=${x(marker.atMs)} y1=${markBase} y2=${markBase - 3 - Math.min(1, Math.max(0, marker.strength)) * (MARK_BAND_PX - 3)}><title>${marker.title}</title></line>`,
      );
    const lines = this.series.map((series) => this.renderSeries(series, startMs, x, y, plotBottom, this.mode === 'positive'));
    return html`<svg
      role="img"
      aria-label=${this.label}
      width=${width}
      height=${height}
      viewBox="0 0 ${width} ${height}"
    >
      ${grid}
      <line class="grid" x1=${plotLeft} x2=${plotRight} y1=${markBase} y2=${markBase}></line>
      ${marks}
      ${lines}
      ${timeLabels}
      <text class="tick" x=${plotLeft + 4} y="10" text-anchor="start" style="font-size:10px">${this.unit}</text>
    </svg>`;
  }

  private renderSeries(
    series: ChartSeries,
    startMs: number,
    x: (atMs: number) => number,
    y: (value: number) => number,
    baseY: number,
    fill: boolean,
  ): SVGTemplateResult {
    let path = '';
    let area = '';
    let runStart: number | null = null;
    let previousMs = -Infinity;
    let last: readonly [number, number] | null = null;
    let runLastX = 0;
    for (const point of series.points) {
      const [atMs, value] = point;
      if (atMs < startMs - this.gapMs || !Number.isFinite(value)) continue;
      const px = x(Math.max(atMs, startMs)).toFixed(1);
      const py = y(value).toFixed(1);
      const breaks = atMs - previousMs > this.gapMs;
      if (breaks && runStart !== null && fill) area += `L${runLastX.toFixed(1)},${baseY}Z`;
      if (breaks) {
        path += `M${px},${py}`;
        if (fill) area += `M${px},${baseY}L${px},${py}`;
        runStart = Number(px);
      } else {
        path += `L${px},${py}`;
        if (fill) area += `L${px},${py}`;
      }
      runLastX = Number(px);
      previousMs = atMs;
      last = point;
    }
    if (fill && runStart !== null) area += `L${runLastX.toFixed(1)},${baseY}Z`;
    return svg`<g>
      ${fill && series.emphasis ? svg`<path class="area" d=${area} fill=${series.color}></path>` : null}
      <path class="line ${series.emphasis ? 'emphasis' : ''}" d=${path} stroke=${series.color}><title>${series.label}</title></path>
      ${last ? svg`<circle cx=${x(last[0])} cy=${y(last[1])} r="3.2" fill=${series.color}></circle>` : null}
    </g>`;
  }
}

function formatTick(value: number, signed: boolean): string {
  const magnitude = Math.abs(value);
  const text = magnitude >= 10 || Number.isInteger(magnitude) ? String(Math.round(magnitude * 10) / 10) : magnitude.toPrecision(2).replace(/\.?0+$/, '');
  if (value === 0) return '0';
  return `${value < 0 ? '−' : signed ? '+' : ''}${text}`;
}

customElements.define('olympix-line-chart', OlympixLineChart);

declare global {
  interface HTMLElementTagNameMap {
    'olympix-line-chart': OlympixLineChart;
  }
}
