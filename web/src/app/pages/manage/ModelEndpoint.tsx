/* The tenant's own model endpoint (GET/PUT/DELETE /v1/tenant/model). The API key is write-only:
 * the page says whether one is set and its last four characters, and never fills it back in. */

import { useId, useState, type SyntheticEvent } from "react";

import { api, type TenantModel, type TenantModelBody } from "../../api";
import { errorText, when } from "../../format";
import { ConfirmButton, Field } from "./shared";
import { Alert, Saved } from "../../components/ui/form";
import { useSettings } from "../../hooks/use-settings";

function describe(model: TenantModel): string {
  if (!model.configured) return "Runs use the platform's model.";
  const key = model.api_key_set
    ? `an API key is set${model.api_key_last4 ? ` (ending in ${model.api_key_last4})` : ""}`
    : "no API key";
  return `Runs use ${model.model ?? "?"} at ${model.base_url ?? "?"}; ${key}.`;
}

export function ModelEndpoint() {
  const ids = useId();
  const [model, setModel] = useState<TenantModel | null>(null);
  const [baseUrl, setBaseUrl] = useState("");
  const [name, setName] = useState("");
  const [apiKey, setApiKey] = useState("");
  const { busy, error, setError, run, saved, setSaved, begin } = useSettings<TenantModel>("/v1/tenant/model", show);

  function show(m: TenantModel) {
    setModel(m);
    setBaseUrl(m.base_url ?? "");
    setName(m.model ?? "");
  }

  async function save(event: SyntheticEvent) {
    event.preventDefault();
    begin();
    let url: URL;
    try {
      url = new URL(baseUrl.trim());
    } catch {
      setError("The API root is a full URL, for example https://api.openai.com/v1.");
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      setError("The API root starts with http:// or https://.");
      return;
    }
    const body: TenantModelBody = { base_url: baseUrl.trim(), model: name.trim() };
    if (apiKey) body.api_key = apiKey;
    await run(async () => {
      show(await api<TenantModel>("/v1/tenant/model", { method: "PUT", body }));
      setSaved("Model endpoint saved.");
    });
    // The key leaves the page whatever the answer: it is not kept in the form.
    setApiKey("");
  }

  async function remove() {
    begin();
    try {
      await api("/v1/tenant/model", { method: "DELETE" });
      show({ configured: false, base_url: null, model: null, api_key_set: false, api_key_last4: null, updated_at: null, updated_by: null });
      setSaved("Runs use the platform's model again.");
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  const forbidden = error !== "" && model === null;
  return (
    <section aria-labelledby={`${ids}-h`} className="card">
      <h2 id={`${ids}-h`}>Model endpoint</h2>
      {model ? (
        <p>
          {describe(model)}
          {model.updated_at ? <span className="muted"> Changed {when(model.updated_at)}.</span> : null}
        </p>
      ) : null}
      {forbidden ? null : (
        <form onSubmit={(e) => void save(e)} aria-label="Model endpoint">
          <Field
            label="API root URL"
            inputMode="url"
            value={baseUrl}
            onChange={setBaseUrl}
            required
            maxLength={2000}
            placeholder="https://api.openai.com/v1"
            hint="Any OpenAI-compatible chat API."
          />
          <Field label="Model name" value={name} onChange={setName} required maxLength={200} placeholder="gpt-4o-mini" />
          <Field
            label="API key"
            type="password"
            autoComplete="off"
            value={apiKey}
            onChange={setApiKey}
            maxLength={4096}
            hint={
              model?.api_key_set
                ? "Saving replaces the stored key: give it again, or leave empty for an endpoint without one."
                : "Leave empty for an endpoint without a key."
            }
          />
          <button type="submit" disabled={busy}>
            Save model endpoint
          </button>
          {model?.configured ? (
            <ConfirmButton
              text="Remove"
              label="Remove model endpoint"
              question="Go back to the platform's model and delete the stored key?"
              confirmLabel="Remove endpoint"
              onConfirm={remove}
            />
          ) : null}
        </form>
      )}
      <Alert error={error} as="div" />
      <Saved text={saved} />
    </section>
  );
}
