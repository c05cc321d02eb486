/* Redrive and discard, for platform admins only: one letter, or every open letter the filter
 * takes. Each asks first (ConfirmButton), and says what it did in a polite status line. */

import { useId, useState } from "react";

import { post } from "../../api";
import { Alert } from "../../components/ui/form";
import { bulkFilter, describeFilter, type LetterFilters } from "../../features/ops/logic";
import type { DeadLetter, Discarded, Redriven } from "../../features/ops/types";
import { errorText } from "../../format";
import { ConfirmButton } from "../manage/shared";

export function LetterButtons({ letter, onDone }: { letter: DeadLetter; onDone: (said: string) => Promise<void> }) {
  const where = letter.subject ?? "its subject";
  async function act(kind: "redrive" | "discard") {
    try {
      if (kind === "redrive") {
        const done = await post<Redriven>(`/v1/ops/deadletters/${letter.seq}/redrive`);
        await onDone(
          done.stored
            ? `Dead letter ${letter.seq} redriven to ${done.subject}.`
            : `Dead letter ${letter.seq} was already redriven to ${done.subject} moments ago; nothing sent again.`,
        );
      } else {
        await post<Discarded>(`/v1/ops/deadletters/${letter.seq}/discard`);
        await onDone(`Dead letter ${letter.seq} discarded.`);
      }
    } catch (exc) {
      await onDone(`Dead letter ${letter.seq}: ${errorText(exc)}`);
    }
  }
  if (letter.state !== "open") return <span className="muted">{letter.state}</span>;
  return (
    <span className="letter-buttons">
      <ConfirmButton
        text="Redrive"
        label={`Redrive dead letter ${letter.seq}`}
        question={`Publish dead letter ${letter.seq} to ${where} again?`}
        confirmLabel="Redrive"
        onConfirm={() => act("redrive")}
      />
      <ConfirmButton
        text="Discard"
        label={`Discard dead letter ${letter.seq}`}
        question={`Discard dead letter ${letter.seq}?`}
        confirmLabel="Discard"
        onConfirm={() => act("discard")}
      />
    </span>
  );
}

export function BulkActions({ filters, onDone }: { filters: LetterFilters; onDone: (said: string) => Promise<void> }) {
  const ids = useId();
  const [error, setError] = useState("");
  const body = bulkFilter(filters);
  const taken = body ? describeFilter(body) : "";

  async function act(kind: "redrive" | "discard") {
    if (!body) return;
    setError("");
    try {
      if (kind === "redrive") {
        const done = await post<{ redriven: Redriven[] }>("/v1/ops/deadletters/redrive", body);
        await onDone(`Redrove ${done.redriven.length.toLocaleString()} dead letter${done.redriven.length === 1 ? "" : "s"} (${taken}).`);
      } else {
        const done = await post<{ discarded: Discarded[] }>("/v1/ops/deadletters/discard", body);
        await onDone(`Discarded ${done.discarded.length.toLocaleString()} dead letter${done.discarded.length === 1 ? "" : "s"} (${taken}).`);
      }
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  return (
    <section aria-labelledby={`${ids}-h`} className="card">
      <h2 id={`${ids}-h`}>Every open letter matching the filter</h2>
      {body ? (
        <p>
          Takes every open dead letter of {taken}, oldest first (up to 100 at a time).
        </p>
      ) : (
        <p className="muted">Filter by service, subject or reason first: a bulk action never takes every letter.</p>
      )}
      <Alert error={error} />
      {body ? (
        <div className="buttons">
          <ConfirmButton
            text="Redrive all matching"
            label={`Redrive all matching: every open dead letter of ${taken}`}
            question={`Publish every open dead letter of ${taken} again?`}
            confirmLabel="Redrive all"
            onConfirm={() => act("redrive")}
          />
          <ConfirmButton
            text="Discard all matching"
            label={`Discard all matching: every open dead letter of ${taken}`}
            question={`Discard every open dead letter of ${taken}?`}
            confirmLabel="Discard all"
            onConfirm={() => act("discard")}
          />
        </div>
      ) : null}
    </section>
  );
}
