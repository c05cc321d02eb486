"""Which policy set version is in force: at start-up, on a published version, and on another replica's switch.

At start-up the shipped files (the image's `policies/` and `registry.yaml`) are validated
first: an invalid shipped set stops the service, even if a good published version is stored.
Then the stored active version wins if a platform admin published it; if the stored one was
itself a shipped set, the image's files win, so deploying new policy files takes effect.

A published version is checked (layout, version digest, registry, schema, policies) and either
switched in atomically or refused with the reason, the old version staying in force. Published
events are ordered by their UUIDv7 ids: one older than the event that set the active version
(a redelivery, or a stale publish overtaken by a newer one) changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from contracts.policy import PolicyActivatedPayload, PolicyPublished, PolicyRejectedPayload
from services.policy.application.decider import Decider
from services.policy.domain.engine import PolicyEngine
from services.policy.domain.policyset import PolicyError, PolicyFiles
from services.policy.store import SHIPPED, PolicyStore, Publication

log = logging.getLogger(__name__)
MAX_REASON = 4000


def startup_engine(store: PolicyStore, shipped: PolicyFiles, clock: Callable[[], float] = time.time) -> PolicyEngine:
    """The engine to start on; raises PolicyError when the shipped set is invalid."""
    shipped_engine = PolicyEngine.from_files(shipped, clock=clock)
    active = store.active()
    if active is not None and active.version != shipped.version and active.published_by != SHIPPED:
        try:
            engine = PolicyEngine.from_files(active.files, clock=clock)
        except PolicyError as exc:
            # Stored while valid, refused by this build's engine: serve the image's files rather than nothing.
            log.error(
                "stored policy version %s no longer loads (%s); using the shipped %s",
                active.version,
                exc,
                shipped.version,
            )
        else:
            log.info("resuming published policy version %s (the image ships %s)", active.version, shipped.version)
            return engine
    if active is None or active.version != shipped.version:
        store.activate(Publication(shipped.version, shipped.files, SHIPPED, "policies in the image"), event_id="")
    log.info("policy version %s (shipped)", shipped.version)
    return shipped_engine


class PolicyVersions:
    def __init__(self, store: PolicyStore, decider: Decider, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._decider = decider
        self._clock = clock

    def apply(self, ev: PolicyPublished) -> PolicyActivatedPayload | PolicyRejectedPayload | None:
        """Validate and switch to a published set; None when the event is stale."""
        active = self._store.active()
        if active is not None and ev.event_id == active.event_id:
            # Redelivered after its switch was stored: the announcement may be what failed (the
            # bus, after the commit), so it is made again; its id is derived from the publication,
            # so a copy the stream already holds is dropped. Acknowledged only after it.
            self.reload()
            return PolicyActivatedPayload(version=active.version, previous_version=self._store.replaced_version())
        if active is not None and ev.event_id <= active.event_id:
            log.info("ignoring publication %s of %s: not newer than the active one", ev.event_id, ev.payload.version)
            return None
        p = ev.payload
        published = Publication(p.version, p.files, ev.actor.user_id, p.comment, ev.occurred_at)
        try:
            files = PolicyFiles.from_mapping(p.files)
            if files.version != p.version:
                raise PolicyError(f"the files make version {files.version}, not the {p.version} they were published as")
            engine = PolicyEngine.from_files(files, clock=self._clock)
        except PolicyError as exc:
            reason = str(exc)[:MAX_REASON]
            self._store.reject(published, reason)
            log.warning("policy version %s rejected, %s stays: %s", p.version, self._decider.version, reason)
            return PolicyRejectedPayload(version=p.version, reason=reason, active_version=self._decider.version)
        previous = self._store.activate(replace(published, files=files.files), event_id=ev.event_id)
        self._decider.switch(engine)
        log.info("policy version %s active (was %s)", files.version, previous)
        return PolicyActivatedPayload(version=files.version, previous_version=previous)

    def reload(self) -> bool:
        """Follow a switch another replica made (it is in the shared store); True if this one switched."""
        version = self._store.active_version()
        if version is None or version == self._decider.version:
            return False
        active = self._store.active()
        if active is None:
            return False
        try:
            engine = PolicyEngine.from_files(active.files, clock=self._clock)
        except PolicyError as exc:
            log.error("cannot load the active policy version %s: %s", active.version, exc)
            return False
        previous = self._decider.switch(engine)
        log.info("policy version %s active (was %s), switched by another replica", active.version, previous)
        return True
