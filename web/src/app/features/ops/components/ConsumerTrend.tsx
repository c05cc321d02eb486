/* One consumer's lag trend, read when shown: a window to pick, the chart, and the sentence that
 * says what the chart shows. */

import { useId, useState } from "react";

import { LabelledSelect } from "../../../components/ui/form";
import { TREND_WINDOWS, trendPoints, trendText } from "../health";
import type { ConsumerTrend as Trend } from "../health-types";
import { LagChart } from "./LagChart";
import { Reading, useOpsRead } from "./OpsPage";

const POINTS = 120;

export function ConsumerTrend({ stream, name }: { stream: string; name: string }) {
  const id = useId();
  const [windowS, setWindowS] = useState(TREND_WINDOWS[0]?.[0] ?? 3600);
  const path = `/v1/ops/consumers/${encodeURIComponent(stream)}/${encodeURIComponent(name)}/trend?window_s=${String(windowS)}&points=${String(POINTS)}`;
  const read = useOpsRead<Trend>(path);
  const windowName = TREND_WINDOWS.find(([s]) => s === windowS)?.[1] ?? "window";
  const points = read.data ? trendPoints(read.data.points) : [];
  return (
    <figure className="lag-trend" aria-label={`Lag trend of ${name}`}>
      <LabelledSelect
        id={`${id}-window`}
        label="Over the"
        value={windowS}
        onChange={(value) => {
          setWindowS(Number(value));
        }}
        options={TREND_WINDOWS.map(([s, text]) => [String(s), text])}
      />
      <Reading what="The trend" read={read} />
      {read.data ? (
        <>
          {points.length ? <LagChart points={points} labelledBy={`${id}-text`} /> : null}
          <figcaption id={`${id}-text`}>
            {trendText(points, windowName)}
            {read.data.sampled > points.length ? ` Thinned from ${String(read.data.sampled)}, keeping each stretch's worst.` : ""}{" "}
            <span className="muted">Sampled every {String(read.data.interval_s)} s.</span>
          </figcaption>
          <button type="button" className="link-button" onClick={() => void read.reload()}>
            Read the trend again
          </button>
        </>
      ) : null}
    </figure>
  );
}
