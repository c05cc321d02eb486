/* Settings: the tenant's run defaults, its model endpoint, members and roles, and API keys. */

import { useId, useState } from "react";

import { api, type ApiKeyRow } from "../../api";
import { errorText } from "../../format";
import { TenantDefaults } from "./Defaults";
import { Members } from "./Members";
import { ModelEndpoint } from "./ModelEndpoint";
import { ConfirmButton, CreateForm, Field, Page, useList } from "./shared";

function ApiKeys() {
  const ids = useId();
  const keys = useList<ApiKeyRow>("/v1/keys", "keys");
  const [keyName, setKeyName] = useState("");
  const [newKey, setNewKey] = useState("");
  const [error, setError] = useState("");
  return (
    <>
      <CreateForm
        title="New API key"
        submitLabel="Create key"
        onSubmit={async () => {
          setNewKey("");
          const made = await api<{ api_key: string }>("/v1/keys", {
            method: "POST",
            body: { name: keyName.trim(), scopes: ["runs:read", "runs:create"] },
          });
          setNewKey(made.api_key);
          setKeyName("");
          await keys.reload();
        }}
      >
        <Field
          label="Key name"
          value={keyName}
          onChange={setKeyName}
          required
          maxLength={120}
          hint="The key may read and start runs as you. Programs send it as a bearer token."
        />
        {newKey ? (
          <p role="status">
            Copy the key now; it is not shown again: <code>{newKey}</code>
          </p>
        ) : null}
      </CreateForm>
      <section aria-labelledby={`${ids}-keys`} className="card">
        <h2 id={`${ids}-keys`}>API keys</h2>
        {keys.error ? <p role="alert">{keys.error}</p> : null}
        <div role="alert" className="error">
          {error}
        </div>
        {keys.items?.length === 0 ? <p className="muted">No API keys.</p> : null}
        <ul>
          {keys.items?.map((k) => (
            <li key={k.key_id}>
              <strong>{k.name}</strong> <span className="muted">{k.scopes.join(", ")}</span> {k.status ?? ""}
              {k.status === "revoked" || k.status === "expired" ? null : (
                <ConfirmButton
                  text="Revoke"
                  label={`Revoke key ${k.name}`}
                  question={`Revoke ${k.name}? Programs using it get 401 from then on.`}
                  confirmLabel="Revoke key"
                  onConfirm={async () => {
                    setError("");
                    try {
                      await api(`/v1/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" });
                    } catch (exc) {
                      setError(errorText(exc));
                    }
                    await keys.reload();
                  }}
                />
              )}
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}

export function SettingsPage() {
  return (
    <Page title="Settings">
      <TenantDefaults />
      <ModelEndpoint />
      <Members />
      <ApiKeys />
    </Page>
  );
}
