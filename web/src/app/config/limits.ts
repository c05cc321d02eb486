/* The gateway's request limits, from src/generated/limits.json (`python -m devtools.export_limits`
 * writes it from the gateway's code), so the page refuses what the gateway would refuse. */

export interface Limits {
  /** The largest file a dataset accepts; null where the build exported no limits (the gateway's 413 still answers). */
  maxUploadBytes: number | null;
  /** The platform audit kinds the ops audit filter accepts (any other is a 400); none where the build exported no limits. */
  auditKinds: readonly string[];
}

// A glob, not an import: the file is generated at build time and a checkout without it still
// type-checks and runs.
const generated = import.meta.glob<{ default: unknown }>("../../generated/limits.json", { eager: true });

function load(): Limits {
  const raw = Object.values(generated)[0]?.default as { max_upload_bytes?: unknown; audit_kinds?: unknown } | undefined;
  const max = raw?.max_upload_bytes;
  const kinds = raw?.audit_kinds;
  return {
    maxUploadBytes: typeof max === "number" && max > 0 ? max : null,
    auditKinds: Array.isArray(kinds) ? kinds.filter((kind): kind is string => typeof kind === "string") : [],
  };
}

export const limits: Limits = load();

/** Bytes as people read a file's size: "20 MB". */
export function megabytes(bytes: number): string {
  return `${String(Math.round(bytes / (1024 * 1024)))} MB`;
}
