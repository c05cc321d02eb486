/* One guard's metric per version over the rollout's looks: a plain SVG, each version a line
 * through its estimates with its always-valid interval as a whisker at every look (an interval
 * not bounded yet on a side reaches the chart's edge there). */

import { domainOf, GUARD_TEXT, linearScale, metric, type GuardPoint, chartValues } from "../rollouts";
import type { Arm, GuardName } from "../rollout-types";
import { ChartAxes, floor, viewBox, xRange, yRange, type Frame } from "./ChartAxes";

const FRAME: Frame = { width: 320, height: 150, left: 52, right: 12, top: 10, bottom: 22 };
const ARMS: readonly Arm[] = ["stable", "candidate"];
// The two versions' whiskers at one look sit side by side, not on top of each other.
const NUDGE: Record<Arm, number> = { stable: -3, candidate: 3 };

export function GuardChart({ guard, series }: { guard: GuardName; series: Record<Arm, GuardPoint[]> }) {
  const points = [...series.stable, ...series.candidate];
  const title = GUARD_TEXT[guard];
  if (!points.length) {
    return (
      <figure className="guard-chart">
        <figcaption>{title}</figcaption>
        <p className="muted">No look has measured it yet.</p>
      </figure>
    );
  }
  const [low, high] = domainOf(chartValues(series));
  const y = linearScale([low, high], yRange(FRAME));
  const times = points.map((p) => p.at);
  const at = linearScale(domainOf(times), xRange(FRAME));
  const latest = (arm: Arm) => {
    const last = series[arm][series[arm].length - 1];
    return last ? `${arm} ${metric(last.estimate)}` : `${arm} no data`;
  };
  return (
    <figure className="guard-chart">
      <figcaption>{title}</figcaption>
      <svg
        viewBox={viewBox(FRAME)}
        role="img"
        aria-label={`${title} per version over ${String(points.length)} readings; latest: ${latest("stable")}, ${latest("candidate")}`}
      >
        <ChartAxes frame={FRAME} ticks={[high, (low + high) / 2, low]} y={y} label={metric} times={times} />
        {ARMS.map((arm) => {
          const x = (time: number) => at(time) + NUDGE[arm];
          return (
            <g key={arm} className={`chart-${arm}`}>
              <polyline fill="none" points={series[arm].map((p) => `${x(p.at).toFixed(1)},${y(p.estimate).toFixed(1)}`).join(" ")} />
              {series[arm].map((p) => (
                <g key={p.at}>
                  <line x1={x(p.at)} x2={x(p.at)} y1={p.lower === null ? floor(FRAME) : y(p.lower)} y2={p.upper === null ? FRAME.top : y(p.upper)} />
                  <circle cx={x(p.at)} cy={y(p.estimate)} r={3} />
                </g>
              ))}
            </g>
          );
        })}
      </svg>
      <p className="chart-legend">
        <span className="chart-key chart-stable">stable</span> <span className="chart-key chart-candidate">candidate</span>
      </p>
    </figure>
  );
}
