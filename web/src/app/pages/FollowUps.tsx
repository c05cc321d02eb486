import { useEffect, useId, useRef, useState, type SyntheticEvent } from "react";

import { get, post } from "../api";
import { Alert, TextArea } from "../components/ui/form";
import { useAction } from "../hooks/use-action";
import { renderInline, type CitedSource } from "../report";

interface Question {
  question_id: string;
  question: string;
  status: string;
  answer: string;
  error: string | null;
}

interface Accepted {
  question_id: string;
  links: Record<string, string>;
}

/** Follow-up questions on a finished run, each answer streamed in place as it is written. */
export function FollowUps({ runId, sources }: { runId: string; sources: readonly CitedSource[] }) {
  const ids = useId();
  const base = `/v1/runs/${encodeURIComponent(runId)}/questions`;
  const [questions, setQuestions] = useState<Question[]>([]);
  const [text, setText] = useState("");
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    get<{ questions: Question[] }>(`${base}?limit=20`).then(
      (r) => {
        setQuestions([...r.questions].reverse());
      },
      () => {
        setQuestions([]);
      },
    );
  }, [base]);

  async function ask(event: SyntheticEvent) {
    event.preventDefault();
    setError("");
    const question = text.trim();
    if (question.length < 3) {
      setError("Write a question of a few words.");
      return;
    }
    await run(async () => {
      const accepted = await post<Accepted>(base, { question });
      setQuestions((now) => [
        ...now,
        { question_id: accepted.question_id, question, status: "asked", answer: "", error: null },
      ]);
      setText("");
    });
  }

  return (
    <section aria-labelledby={`${ids}-h`} className="follow-ups">
      <h3 id={`${ids}-h`}>Follow-up questions</h3>
      {questions.map((q) => (
        <Answer key={q.question_id} base={base} initial={q} sources={sources} />
      ))}
      <form onSubmit={(e) => void ask(e)}>
        <TextArea id={`${ids}-q`} label="Follow-up question" value={text} onChange={setText} />
        <button type="submit" disabled={busy}>
          Ask a follow-up
        </button>
        <Alert error={error} />
      </form>
    </section>
  );
}

function Answer({ base, initial, sources }: { base: string; initial: Question; sources: readonly CitedSource[] }) {
  const byNumber = new Map(sources.map((s) => [s.n, s]));
  const [answer, setAnswer] = useState(initial.answer);
  const [status, setStatus] = useState(initial.status);
  const [failure, setFailure] = useState(initial.error);
  const parts = useRef(new Map<number, string>());
  const settled = status === "answered" || status === "failed";

  useEffect(() => {
    if (settled) return;
    const source = new EventSource(`${base}/${encodeURIComponent(initial.question_id)}/events`, { withCredentials: true });
    // Parts are keyed by their number, so a part replayed after a reconnect is not added twice.
    source.addEventListener("part", (ev: MessageEvent<string>) => {
      try {
        const part = JSON.parse(ev.data) as { seq: number; text: string };
        parts.current.set(part.seq, part.text);
        const text = [...parts.current.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([, t]) => t)
          .join("");
        setAnswer(text);
        setStatus("answering");
      } catch {
        /* a malformed part is skipped; the settled answer replaces the text anyway */
      }
    });
    const settle = (ev: MessageEvent<string>) => {
      try {
        const view = JSON.parse(ev.data) as Question;
        setAnswer(view.answer);
        setStatus(view.status);
        setFailure(view.error);
      } catch {
        setStatus(ev.type);
      }
    };
    source.addEventListener("answered", settle);
    source.addEventListener("failed", settle);
    source.addEventListener("end", () => {
      source.close();
    });
    // The browser gave up on the stream (an error status): read the answer until it settles.
    let poll: ReturnType<typeof setInterval> | undefined;
    source.onerror = () => {
      if (source.readyState !== 2 || poll !== undefined) return;
      poll = setInterval(() => {
        get<Question>(`${base}/${encodeURIComponent(initial.question_id)}`).then(
          (view) => {
            setAnswer(view.answer);
            setStatus(view.status);
            setFailure(view.error);
          },
          () => undefined,
        );
      }, 2000);
    };
    return () => {
      source.close();
      clearInterval(poll);
    };
  }, [base, initial.question_id, settled]);

  return (
    <article className="answer">
      <h4>{initial.question}</h4>
      <div aria-live="polite" aria-busy={!settled}>
        {answer ? <p className="answer-text">{renderInline(answer, byNumber, initial.question_id)}</p> : null}
        {!settled && !answer ? <p className="muted">Answering…</p> : null}
        {status === "failed" ? <p className="warning">The question could not be answered: {failure ?? "unknown reason"}</p> : null}
      </div>
    </article>
  );
}

