/* The tenant's run defaults (GET/PATCH /v1/tenant/settings): approval, its deadline, what
 * happens to personal data in a report, and where runs search. */

import { useId, useState, type SyntheticEvent } from "react";

import { api, type SourceKind, type TenantSettings } from "../../api";
import { Alert, Check, LabelledSelect, Saved, SubmitRow } from "../../components/ui/form";
import { Field } from "./shared";
import { useSettings } from "../../hooks/use-settings";

// The gateway's bounds on approval_timeout_s (TenantSettingsUpdate in routes/tenant.py).
const MIN_TIMEOUT_S = 5;
const MAX_TIMEOUT_S = 90 * 24 * 3600;
const SOURCE_KINDS: [SourceKind, string][] = [
  ["corpus", "The shared corpus"],
  ["datasets", "Your datasets"],
  ["web", "The web"],
];
const PII_POLICIES = [
  ["redact", "Redact it"],
  ["block", "Block publishing"],
] as const;
// What `sources: null` means on the gateway: the shared corpus and the tenant's documents.
const PLATFORM_SOURCES: SourceKind[] = ["corpus", "datasets"];

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

export function TenantDefaults() {
  const ids = useId();
  const [loaded, setLoaded] = useState<TenantSettings | null>(null);
  const [approval, setApproval] = useState(false);
  const [timeout, setTimeoutS] = useState("");
  const [pii, setPii] = useState<TenantSettings["pii_policy"]>("redact");
  const [sources, setSources] = useState<SourceKind[]>([]);
  const { busy, error, setError, run, saved, setSaved, begin } = useSettings<TenantSettings>("/v1/tenant/settings", show);

  function show(s: TenantSettings) {
    setLoaded(s);
    setApproval(s.approval_required);
    setTimeoutS(String(s.approval_timeout_s));
    setPii(s.pii_policy);
    setSources(s.sources ?? PLATFORM_SOURCES);
  }

  async function save(event: SyntheticEvent) {
    event.preventDefault();
    if (!loaded) return;
    begin();
    const seconds = Number(timeout);
    if (!Number.isInteger(seconds) || seconds < MIN_TIMEOUT_S || seconds > MAX_TIMEOUT_S) {
      setError(`The approval deadline is a whole number of seconds from ${MIN_TIMEOUT_S} to ${MAX_TIMEOUT_S.toLocaleString()} (90 days).`);
      return;
    }
    if (!sources.length) {
      setError("Choose at least one place for runs to search.");
      return;
    }
    const body: Partial<TenantSettings> = { approval_required: approval, approval_timeout_s: seconds, pii_policy: pii };
    // Untouched platform default stays the default (it follows the platform if that changes).
    if (loaded.sources !== null || !sameSet(sources, PLATFORM_SOURCES)) body.sources = sources;
    await run(async () => {
      show(await api<TenantSettings>("/v1/tenant/settings", { method: "PATCH", body }));
      setSaved("Settings saved; they apply to runs started from now on.");
    });
  }

  return (
    <section aria-labelledby={`${ids}-h`} className="card">
      <h2 id={`${ids}-h`}>Workspace defaults</h2>
      {loaded ? (
        <form onSubmit={(e) => void save(e)}>
          <Check id={`${ids}-appr`} label="Runs wait for approval before publishing" checked={approval} onChange={setApproval} />
          <Field
            label="Approval deadline in seconds"
            hint="A run nobody approves by then expires (3600 is an hour, 86400 a day)."
            type="number"
            inputMode="numeric"
            min={MIN_TIMEOUT_S}
            max={MAX_TIMEOUT_S}
            step={1}
            required
            value={timeout}
            onChange={setTimeoutS}
          />
          <div className="field">
            <LabelledSelect
              id={`${ids}-pii`}
              label="Personal data found in a report"
              value={pii}
              options={PII_POLICIES}
              onChange={(v) => {
                setPii(v === "block" ? "block" : "redact");
              }}
            />
          </div>
          <fieldset>
            <legend>Where runs search unless they say otherwise</legend>
            {SOURCE_KINDS.map(([kind, label]) => (
              <Check
                key={kind}
                id={`${ids}-src-${kind}`}
                label={label}
                checked={sources.includes(kind)}
                onChange={(on) => {
                  setSources(on ? [...sources, kind] : sources.filter((s) => s !== kind));
                }}
              />
            ))}
            {loaded.sources === null ? <p className="hint">Now: the platform's default.</p> : null}
          </fieldset>
          <SubmitRow error={error} busy={busy} label="Save settings" />
        </form>
      ) : (
        <Alert error={error} as="div" />
      )}
      <Saved text={saved} />
    </section>
  );
}
