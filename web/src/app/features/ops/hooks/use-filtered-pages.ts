/* A console list filtered by the page's query string and paged back by sequence (`before`): the
 * audit log and the dead letters. What was read is kept under the filters it was read for, so a
 * changed filter never shows the last filter's rows while the new ones load. */
import { useCallback, useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";

import { ApiError, get } from "../../../api";
import { errorText } from "../../../format";

const PAGE_SIZE = 50;

/** Where a list is read and how its filters travel in the query string; defined once per page,
 * outside the component, so the reads it drives stay stable between renders. */
export interface FilteredSource<F, P extends { next_before: number | null }, T> {
  path: string;
  filtersFrom: (params: URLSearchParams) => F;
  queryOf: (filters: F) => URLSearchParams;
  itemsOf: (page: P) => T[];
}

export function useFilteredPages<F, P extends { next_before: number | null }, T>(source: FilteredSource<F, P, T>) {
  const { path, filtersFrom, queryOf, itemsOf } = source;
  const [params, setParams] = useSearchParams();
  const key = params.toString();
  const filters = useMemo(() => filtersFrom(new URLSearchParams(key)), [filtersFrom, key]);
  const [loaded, setLoaded] = useState<{ key: string; items: T[]; nextBefore: number | null } | null>(null);
  const items = loaded?.key === key ? loaded.items : null;
  const nextBefore = loaded?.key === key ? loaded.nextBefore : null;
  const [error, setError] = useState("");
  const [forbidden, setForbidden] = useState(false);

  const load = useCallback(
    (before: number | null = null) => {
      const query = queryOf(filters);
      query.set("limit", String(PAGE_SIZE));
      if (before !== null) query.set("before", String(before));
      return get<P>(`${path}?${query.toString()}`).then(
        (found) => {
          setLoaded((shown) => ({
            key,
            items: before !== null && shown?.key === key ? [...shown.items, ...itemsOf(found)] : itemsOf(found),
            nextBefore: found.next_before,
          }));
          setError("");
        },
        (exc: unknown) => {
          if (exc instanceof ApiError && exc.status === 403) setForbidden(true);
          setError(errorText(exc));
        },
      );
    },
    [path, queryOf, itemsOf, filters, key],
  );

  useEffect(() => {
    void load();
  }, [load]);

  const applyFilters = useCallback(
    (next: F) => {
      setParams(queryOf(next));
    },
    [queryOf, setParams],
  );

  return { key, filters, items, nextBefore, error, forbidden, load, applyFilters };
}
