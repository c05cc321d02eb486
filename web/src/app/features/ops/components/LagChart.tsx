/* A consumer's lag over time: a plain SVG line of its lag as an age, a sample whose oldest owed
 * message could not be read marked at the top of the chart. The sentence naming what it shows
 * (`describedBy`'s text) is its accessible name, and is on the page for everyone. */

import { duration } from "../logic";
import { domainOf, linearScale } from "../rollouts";
import type { TrendPoint } from "../health";

const WIDTH = 320;
const HEIGHT = 120;
const LEFT = 58;
const RIGHT = 10;
const TOP = 10;
const BOTTOM = 22;

export function LagChart({ points, labelledBy }: { points: readonly TrendPoint[]; labelledBy: string }) {
  const lags = points.flatMap((p) => (p.lag === null ? [] : [p.lag]));
  const [, high] = domainOf([0, ...lags]);
  const y = linearScale([0, high], [HEIGHT - BOTTOM, TOP]);
  const times = points.map((p) => p.at);
  const x = linearScale(domainOf(times), [LEFT, WIDTH - RIGHT]);
  // A line through the readable samples, broken where one could not be read.
  const runs: TrendPoint[][] = [[]];
  for (const p of points) {
    if (p.lag === null) runs.push([]);
    else runs[runs.length - 1]?.push(p);
  }
  const first = times.length ? new Date(Math.min(...times)) : null;
  const last = times.length ? new Date(Math.max(...times)) : null;
  return (
    <svg className="lag-chart" viewBox={`0 0 ${String(WIDTH)} ${String(HEIGHT)}`} role="img" aria-labelledby={labelledBy}>
      <line className="chart-axis" x1={LEFT} y1={TOP} x2={LEFT} y2={HEIGHT - BOTTOM} />
      <line className="chart-axis" x1={LEFT} y1={HEIGHT - BOTTOM} x2={WIDTH - RIGHT} y2={HEIGHT - BOTTOM} />
      {[high, high / 2, 0].map((tick) => (
        <text key={tick} className="chart-tick" x={LEFT - 4} y={y(tick) + 4} textAnchor="end">
          {duration(tick)}
        </text>
      ))}
      {first && last ? (
        <>
          <text className="chart-tick" x={LEFT} y={HEIGHT - 6} textAnchor="start">
            {first.toISOString().slice(11, 16)}
          </text>
          <text className="chart-tick" x={WIDTH - RIGHT} y={HEIGHT - 6} textAnchor="end">
            {last.toISOString().slice(11, 16)}
          </text>
        </>
      ) : null}
      <g className="chart-lag">
        {runs
          .filter((run) => run.length)
          .map((run) => (
            <polyline key={run[0]?.at} points={run.map((p) => `${x(p.at).toFixed(1)},${y(p.lag ?? 0).toFixed(1)}`).join(" ")} />
          ))}
        {points.length === 1 && points[0]?.lag !== null ? <circle cx={x(points[0]?.at ?? 0)} cy={y(points[0]?.lag ?? 0)} r={3} /> : null}
      </g>
      <g className="chart-unread">
        {points
          .filter((p) => p.lag === null)
          .map((p) => (
            <circle key={p.at} cx={x(p.at)} cy={TOP} r={3} />
          ))}
      </g>
    </svg>
  );
}
