/* Members and roles (/v1/members): list, invite, change a role, remove. The gateway decides who
 * may do what (never above one's own role, never the last owner); its refusal is shown as said. */

import { useId, useState } from "react";

import { api, post, type Member, type Role } from "../../api";
import { LabelledSelect } from "../../components/ui/form";
import { useSession } from "../../session";
import { ConfirmButton, CreateForm, Field, ListSection, ShownOnce, useList, type ListState } from "./shared";
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
    <LabelledSelect
      id={id}
      label={label}
      value={value}
      options={ROLES}
      onChange={(v) => {
        onChange(asRole(v));
      }}
    />
  );
}

function MemberRow({ member, self, list }: { member: Member; self: boolean; list: ListState<Member> }) {
  const ids = useId();
  const [role, setRole] = useState<Role>(member.role);
  const { busy, run } = useAction((text) => {
    list.setActionError(`${member.email}: ${text}`);
    setRole(member.role);
  });
  const path = `/v1/members/${encodeURIComponent(member.user_id)}`;

  async function changeRole() {
    list.setActionError("");
    await run(async () => {
      await api(path, { method: "PATCH", body: { role } });
      await list.reload();
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
          onConfirm={() => list.act(() => api(path, { method: "DELETE" }), `${member.email}: `)}
        />
      </div>
    </li>
  );
}

export function Members() {
  const ids = useId();
  const { me } = useSession();
  const members = useList<Member>("/v1/members", "members");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [invite, setInvite] = useState("");

  return (
    <>
      <ListSection heading="Members" list={members} actions className="card">
        {members.items?.map((m) => (
          // Keyed by role too: a changed role starts the row's select from the new value.
          <MemberRow key={`${m.user_id}:${m.role}`} member={m} self={m.user_id === me?.user_id} list={members} />
        ))}
      </ListSection>
      <CreateForm
        title="Invite a member"
        submitLabel="Invite"
        list={members}
        onSubmit={async () => {
          setInvite("");
          setInvite((await post<{ invite_token: string }>("/v1/members", { email: email.trim(), role })).invite_token);
          setEmail("");
        }}
      >
        <Field label="Member's email" type="email" value={email} onChange={setEmail} required maxLength={254} />
        <RoleSelect id={`${ids}-role`} label="Role" value={role} onChange={setRole} />
        <ShownOnce text="Hand this invite token to them (shown once)" secret={invite} />
      </CreateForm>
    </>
  );
}
