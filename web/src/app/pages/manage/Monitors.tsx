/* Monitors: create one on a cron schedule or an interval, pause and resume it, the runs its slots started. */

import { useState } from "react";
import { Link } from "react-router";

import { api, type Monitor } from "../../api";
import { when } from "../../format";
import { CreateForm, Field, ListSection, Page, useList } from "./shared";

export function MonitorsPage() {
  const list = useList<Monitor>("/v1/monitors", "monitors");
  const [question, setQuestion] = useState("");
  const [schedule, setSchedule] = useState("");
  const [interval, setInterval] = useState("86400");

  async function create() {
    const body = schedule.trim()
      ? { question: question.trim(), cron: schedule.trim() }
      : { question: question.trim(), interval_s: Number(interval) };
    await api("/v1/monitors", { method: "POST", body });
    setQuestion("");
  }

  return (
    <Page title="Monitors">
      <CreateForm title="New monitor" submitLabel="Create monitor" list={list} onSubmit={create}>
        <Field label="Question" value={question} onChange={setQuestion} required maxLength={2000} />
        <Field
          label="Cron schedule"
          value={schedule}
          onChange={setSchedule}
          maxLength={120}
          hint="Five fields, UTC (for example 0 8 * * 1). Leave empty to use the interval."
        />
        <Field label="Interval in seconds" type="number" min={1} value={interval} onChange={setInterval} />
      </CreateForm>
      <ListSection heading="Your monitors" list={list} empty="No monitors yet." actions>
        {list.items?.map((m) => {
          const paused = m.status === "paused";
          return (
            <li key={m.monitor_id}>
              <strong>{m.question}</strong>{" "}
              <span className="muted">
                {m.schedule.cron ? `cron ${m.schedule.cron}` : `every ${m.schedule.interval_s ?? "?"} s`} · {m.status}
                {m.next_slot ? ` · next ${when(m.next_slot)}` : ""}
              </span>{" "}
              <button
                type="button"
                className="link-button"
                aria-label={`${paused ? "Resume" : "Pause"} monitor: ${m.question}`}
                onClick={() => {
                  void list.act(
                    () => api(`/v1/monitors/${encodeURIComponent(m.monitor_id)}/${paused ? "resume" : "pause"}`, { method: "POST", body: {} }),
                    `${m.question}: `,
                  );
                }}
              >
                {paused ? "Resume" : "Pause"}
              </button>
              {m.runs.length ? (
                <ul aria-label={`Runs started by the monitor: ${m.question}`}>
                  {m.runs.slice(-10).reverse().map((r) => (
                    <li key={r.slot}>
                      {when(r.slot)}:{" "}
                      {r.run_id ? <Link to={`/research/runs/${r.run_id}`}>run {r.run_id.slice(0, 8)}</Link> : "no run (skipped)"}
                    </li>
                  ))}
                </ul>
              ) : null}
            </li>
          );
        })}
      </ListSection>
    </Page>
  );
}
