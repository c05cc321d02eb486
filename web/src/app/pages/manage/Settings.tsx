/* Settings: the tenant's run defaults, its model endpoint, members and roles, and API keys. */

import { useState } from "react";

import { api, post, type ApiKeyRow } from "../../api";
import { TenantDefaults } from "./Defaults";
import { Members } from "./Members";
import { ModelEndpoint } from "./ModelEndpoint";
import { ConfirmButton, CreateForm, Field, ListSection, Page, ShownOnce, useList } from "./shared";

function ApiKeys() {
  const keys = useList<ApiKeyRow>("/v1/keys", "keys");
  const [keyName, setKeyName] = useState("");
  const [newKey, setNewKey] = useState("");

  async function create() {
    setNewKey("");
    const body = { name: keyName.trim(), scopes: ["runs:read", "runs:create"] };
    setNewKey((await post<{ api_key: string }>("/v1/keys", body)).api_key);
    setKeyName("");
  }

  return (
    <>
      <CreateForm title="New API key" submitLabel="Create key" list={keys} onSubmit={create}>
        <Field
          label="Key name"
          value={keyName}
          onChange={setKeyName}
          required
          maxLength={120}
          hint="The key may read and start runs as you. Programs send it as a bearer token."
        />
        <ShownOnce text="Copy the key now; it is not shown again" secret={newKey} />
      </CreateForm>
      <ListSection heading="API keys" list={keys} empty="No API keys." actions className="card">
        {keys.items?.map((k) => (
          <li key={k.key_id}>
            <strong>{k.name}</strong> <span className="muted">{k.scopes.join(", ")}</span> {k.status ?? ""}
            {k.status === "revoked" || k.status === "expired" ? null : (
              <ConfirmButton
                text="Revoke"
                label={`Revoke key ${k.name}`}
                question={`Revoke ${k.name}? Programs using it get 401 from then on.`}
                confirmLabel="Revoke key"
                onConfirm={() => keys.act(() => api(`/v1/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" }))}
              />
            )}
          </li>
        ))}
      </ListSection>
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
