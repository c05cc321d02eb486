/* A consumer's lag over time: a plain SVG line of its lag as an age, a sample whose oldest owed
 * message could not be read marked at the top of the chart. The sentence naming what it shows
 * (`describedBy`'s text) is its accessible name, and is on the page for everyone. */

import { duration } from "../logic";
import { domainOf, linearScale } from "../rollouts";
import type { TrendPoint } from "../health";
import { ChartAxes, viewBox, xRange, yRange, type Frame } from "./ChartAxes";

const FRAME: Frame = { width: 320, height: 120, left: 58, right: 10, top: 10, bottom: 22 };

export function LagChart({ points, labelledBy }: { points: readonly TrendPoint[]; labelledBy: string }) {
  const lags = points.flatMap((p) => (p.lag === null ? [] : [p.lag]));
  const [, high] = domainOf([0, ...lags]);
  const y = linearScale([0, high], yRange(FRAME));
  const times = points.map((p) => p.at);
  const x = linearScale(domainOf(times), xRange(FRAME));
  // A line through the readable samples, broken where one could not be read.
  const runs: TrendPoint[][] = [[]];
  for (const p of points) {
    if (p.lag === null) runs.push([]);
    else runs[runs.length - 1]?.push(p);
  }
  return (
    <svg className="lag-chart" viewBox={viewBox(FRAME)} role="img" aria-labelledby={labelledBy}>
      <ChartAxes frame={FRAME} ticks={[high, high / 2, 0]} y={y} label={duration} times={times} />
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
            <circle key={p.at} cx={x(p.at)} cy={FRAME.top} r={3} />
          ))}
      </g>
    </svg>
  );
}
