/* Members and roles (/v1/members): list, invite, change a role, remove. The gateway decides who
 * may do what (never above one's own role, never the last owner); its refusal is shown as said. */

import { useId, useState } from "react";

import { api, type Member, type Role } from "../../api";
import { errorText } from "../../format";
import { useSession } from "../../session";
import { ConfirmButton, CreateForm, Field, useList } from "./shared";
import { useAction } from "../../hooks/use-action";

const ROLES: [Role, string][] = [
  ["viewer", "Viewer"],
  ["member", "Member"],
  ["admin", "Admin"],
  ["owner", "Owner"],
];

function asRole(value: string): Role {
  return ROLES.find(([r]) => r === value)?.[0] ?? "member";
}

function RoleSelect({ id, value, onChange, label }: { id: string; value: Role; onChange: (r: Role) => void; label: string }) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        value={value}
        onChange={(e) => {
          onChange(asRole(e.target.value));
        }}
      >
        {ROLES.map(([role, text]) => (
          <option key={role} value={role}>
            {text}
          </option>
        ))}
      </select>
    </>
  );
}

function MemberRow({ member, self, onChanged, onError }: { member: Member; self: boolean; onChanged: () => Promise<void>; onError: (m: string) => void }) {
  const ids = useId();
  const [role, setRole] = useState<Role>(member.role);
  const { busy, run } = useAction((text) => {
    onError(`${member.email}: ${text}`);
    setRole(member.role);
  });
  const path = `/v1/members/${encodeURIComponent(member.user_id)}`;

  async function changeRole() {
    onError("");
    await run(async () => {
      await api(path, { method: "PATCH", body: { role } });
      await onChanged();
    });
  }

  return (
    <li>
      <strong>{member.email}</strong>
      {self ? " (you)" : ""} <span className="muted">· {member.role} · {member.status}</span>
      <div className="toolbar">
        <RoleSelect id={`${ids}-role`} label={`Role of ${member.email}`} value={role} onChange={setRole} />
        <button type="button" disabled={busy || role === member.role} onClick={() => void changeRole()}>
          Change role
        </button>
        <ConfirmButton
          text="Remove"
          label={`Remove member ${member.email}`}
          question={`Remove ${member.email}? Their API keys are revoked and their sessions end.`}
          confirmLabel="Remove member"
          onConfirm={async () => {
            onError("");
            try {
              await api(path, { method: "DELETE" });
            } catch (exc) {
              onError(`${member.email}: ${errorText(exc)}`);
            }
            await onChanged();
          }}
        />
      </div>
    </li>
  );
}

export function Members() {
  const ids = useId();
  const { me } = useSession();
  const members = useList<Member>("/v1/members", "members");
  const [error, setError] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [invite, setInvite] = useState("");

  return (
    <>
      <section aria-labelledby={`${ids}-h`} className="card">
        <h2 id={`${ids}-h`}>Members</h2>
        {members.error ? <p role="alert">{members.error}</p> : null}
        <div role="alert" className="error">
          {error}
        </div>
        <ul>
          {members.items?.map((m) => (
            // Keyed by role too: a changed role starts the row's select from the new value.
            <MemberRow key={`${m.user_id}:${m.role}`} member={m} self={m.user_id === me?.user_id} onChanged={members.reload} onError={setError} />
          ))}
        </ul>
      </section>
      <CreateForm
        title="Invite a member"
        submitLabel="Invite"
        onSubmit={async () => {
          setInvite("");
          const made = await api<{ invite_token: string }>("/v1/members", {
            method: "POST",
            body: { email: email.trim(), role },
          });
          setInvite(made.invite_token);
          setEmail("");
          await members.reload();
        }}
      >
        <Field label="Member's email" type="email" value={email} onChange={setEmail} required maxLength={254} />
        <RoleSelect id={`${ids}-role`} label="Role" value={role} onChange={setRole} />
        {invite ? (
          <p role="status">
            Hand this invite token to them (shown once): <code>{invite}</code>
          </p>
        ) : null}
      </CreateForm>
    </>
  );
}
