/* What the console's SVG charts share: a frame (the plot's margins in an SVG of a given size),
 * its two axes, the value axis's ticks and, under the time axis, the first and last time shown. */

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The y of the time axis, the plot's lowest point. */
export function floor(frame: Frame): number {
  return frame.height - frame.bottom;
}

/** The SVG's viewBox: the frame's whole size. */
export function viewBox(frame: Frame): string {
  return `0 0 ${String(frame.width)} ${String(frame.height)}`;
}

/** Where a value scale maps onto: from the time axis up to the plot's top. */
export function yRange(frame: Frame): [number, number] {
  return [floor(frame), frame.top];
}

/** Where a time scale maps onto: from the value axis to the plot's right edge. */
export function xRange(frame: Frame): [number, number] {
  return [frame.left, frame.width - frame.right];
}

function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

export function ChartAxes({
  frame,
  ticks,
  y,
  label,
  times,
}: {
  frame: Frame;
  ticks: readonly number[];
  y: (value: number) => number;
  label: (value: number) => string;
  times: readonly number[];
}) {
  const { width, height, left, right, top } = frame;
  return (
    <>
      <line className="chart-axis" x1={left} y1={top} x2={left} y2={floor(frame)} />
      <line className="chart-axis" x1={left} y1={floor(frame)} x2={width - right} y2={floor(frame)} />
      {ticks.map((tick) => (
        <text key={tick} className="chart-tick" x={left - 4} y={y(tick) + 4} textAnchor="end">
          {label(tick)}
        </text>
      ))}
      {times.length ? (
        <>
          <text className="chart-tick" x={left} y={height - 6} textAnchor="start">
            {hhmm(Math.min(...times))}
          </text>
          <text className="chart-tick" x={width - right} y={height - 6} textAnchor="end">
            {hhmm(Math.max(...times))}
          </text>
        </>
      ) : null}
    </>
  );
}
