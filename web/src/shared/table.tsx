/* The head every data table has, in the workspace and on the public site: a caption for
 * assistive technology and one column header per name. */

import type { ReactNode } from "react";

export function TableHead({ caption, columns }: { caption: string; columns: readonly string[] }) {
  return (
    <>
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          {columns.map((name) => (
            <th key={name} scope="col">
              {name}
            </th>
          ))}
        </tr>
      </thead>
    </>
  );
}

/** A data table in its scrolling region: labelled for assistive technology, focusable so a
 * keyboard can scroll it, the rows (`children`) under a `TableHead`. */
export function DataTable({ label, caption, columns, children }: { label: string; caption: string; columns: readonly string[]; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>
        <TableHead caption={caption} columns={columns} />
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
