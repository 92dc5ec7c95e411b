import { useId } from 'react';
import { useTranslation } from 'react-i18next';

interface ThroughputChartProps {
  inbound: number[];
  outbound: number[];
  bucketMs: number;
  height?: number;
}

const WIDTH = 600;

/** Messages per bucket over the last hour, in and out, as two lines; scales to its container. */
export function ThroughputChart({ inbound, outbound, bucketMs, height = 120 }: ThroughputChartProps) {
  const { t } = useTranslation();
  const titleId = useId();
  const max = Math.max(1, ...inbound, ...outbound);
  const n = Math.max(inbound.length, outbound.length, 2);
  const x = (i: number) => (i / (n - 1)) * WIDTH;
  const y = (v: number) => height - 4 - (v / max) * (height - 12);
  const line = (values: number[]) => values.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const area = (values: number[]) => `${line(values)}L${x(values.length - 1)},${height}L0,${height}Z`;
  const sumIn = inbound.reduce((a, b) => a + b, 0);
  const sumOut = outbound.reduce((a, b) => a + b, 0);
  const minutes = Math.round((n * bucketMs) / 60_000);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${height}`} preserveAspectRatio="none" role="img" aria-labelledby={titleId} height={height}>
        <title id={titleId}>{t('chart.title', { minutes, sumIn, sumOut, max })}</title>
        {[0.25, 0.5, 0.75].map((f) => (
          <line key={f} x1="0" x2={WIDTH} y1={height * f} y2={height * f} className="chart-grid" />
        ))}
        {inbound.length > 0 && <path d={area(inbound)} className="chart-area-in" />}
        {inbound.length > 0 && <path d={line(inbound)} className="chart-line-in" vectorEffect="non-scaling-stroke" />}
        {outbound.length > 0 && <path d={line(outbound)} className="chart-line-out" vectorEffect="non-scaling-stroke" />}
      </svg>
      <figcaption className="chart-legend">
        <span className="legend-in">{t('chart.in', { n: sumIn })}</span>
        <span className="legend-out">{t('chart.out', { n: sumOut })}</span>
        <span className="muted">{t('chart.window', { minutes, max })}</span>
      </figcaption>
    </figure>
  );
}

/** A tiny inline trend line, for a row. */
export function Sparkline({ values, width = 80, height = 20 }: { values: number[]; width?: number; height?: number }) {
  const max = Math.max(1, ...values);
  const n = Math.max(values.length, 2);
  const d = values.map((v, i) => `${i === 0 ? 'M' : 'L'}${((i / (n - 1)) * width).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`).join('');
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
      <path d={d} />
    </svg>
  );
}
