/* One guard's metric per version over the rollout's looks: a plain SVG, each version a line
 * through its estimates with its always-valid interval as a whisker at every look (an interval
 * not bounded yet on a side reaches the chart's edge there). */

import { domainOf, GUARD_TEXT, linearScale, metric, type GuardPoint, chartValues } from "../rollouts";
import type { Arm, GuardName } from "../rollout-types";

const WIDTH = 320;
const HEIGHT = 150;
const LEFT = 52;
const RIGHT = 12;
const TOP = 10;
const BOTTOM = 22;
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
  const y = linearScale([low, high], [HEIGHT - BOTTOM, TOP]);
  const at = linearScale(domainOf(points.map((p) => p.at)), [LEFT, WIDTH - RIGHT]);
  const latest = (arm: Arm) => {
    const last = series[arm][series[arm].length - 1];
    return last ? `${arm} ${metric(last.estimate)}` : `${arm} no data`;
  };
  const first = new Date(Math.min(...points.map((p) => p.at)));
  const last = new Date(Math.max(...points.map((p) => p.at)));
  return (
    <figure className="guard-chart">
      <figcaption>{title}</figcaption>
      <svg
        viewBox={`0 0 ${String(WIDTH)} ${String(HEIGHT)}`}
        role="img"
        aria-label={`${title} per version over ${String(points.length)} readings; latest: ${latest("stable")}, ${latest("candidate")}`}
      >
        <line className="chart-axis" x1={LEFT} y1={TOP} x2={LEFT} y2={HEIGHT - BOTTOM} />
        <line className="chart-axis" x1={LEFT} y1={HEIGHT - BOTTOM} x2={WIDTH - RIGHT} y2={HEIGHT - BOTTOM} />
        {[high, (low + high) / 2, low].map((tick) => (
          <text key={tick} className="chart-tick" x={LEFT - 4} y={y(tick) + 4} textAnchor="end">
            {metric(tick)}
          </text>
        ))}
        <text className="chart-tick" x={LEFT} y={HEIGHT - 6} textAnchor="start">
          {first.toISOString().slice(11, 16)}
        </text>
        <text className="chart-tick" x={WIDTH - RIGHT} y={HEIGHT - 6} textAnchor="end">
          {last.toISOString().slice(11, 16)}
        </text>
        {ARMS.map((arm) => {
          const x = (time: number) => at(time) + NUDGE[arm];
          return (
            <g key={arm} className={`chart-${arm}`}>
              <polyline fill="none" points={series[arm].map((p) => `${x(p.at).toFixed(1)},${y(p.estimate).toFixed(1)}`).join(" ")} />
              {series[arm].map((p) => (
                <g key={p.at}>
                  <line x1={x(p.at)} x2={x(p.at)} y1={p.lower === null ? HEIGHT - BOTTOM : y(p.lower)} y2={p.upper === null ? TOP : y(p.upper)} />
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
