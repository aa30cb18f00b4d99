/** A uPlot chart that redraws when its data changes and follows its container's width. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
  /** Drawn against the right-hand axis, as a percentage. */
  percent?: boolean;
}

export function Chart({ title, days, series, height = 260 }: { title: string; days: string[]; series: Series[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
        scales: { x: { time: true }, pct: { range: [0, 100] } },
        axes: [{}, { label: 'runs' }, { scale: 'pct', side: 1, label: 'success %', grid: { show: false } }],
        series: [
          { label: 'day' },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            scale: s.percent ? 'pct' : 'y',
            points: { show: true },
            ...(s.percent ? {} : { fill: `${s.color}22` }),
          })),
        ],
      },
      [xs, ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [title, days.join(','), JSON.stringify(series), height]);
  return <div class="chart" ref={box} role="img" aria-label={`${title}: ${series.map((s) => s.label).join(', ')} per day`} />;
}
