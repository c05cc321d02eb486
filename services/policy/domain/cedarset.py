"""Parsing and checking Cedar policy files into the sets the engine evaluates.

Each policy must carry a unique `@id` (decisions cite it). A soft policy must be a `forbid`
with `@rule_id` (what the approver is asked to review) and `@approval_timeout_s` (a positive
number of seconds): its match asks for approval instead of denying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import cedarpy

from services.policy.domain.policyset import PolicyError

SOFT_ANNOTATIONS: Final = ("rule_id", "approval_timeout_s")


@dataclass(frozen=True, slots=True)
class SoftRule:
    """What a matching soft policy asks for: a review under `rule_id`, due within `timeout_s`."""

    policy_id: str
    rule_id: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class CompiledSet:
    """One parsed policy set, with each policy's `@id` keyed by the positional id Cedar gave it."""

    policies: cedarpy.PolicySet
    ids: Mapping[str, str]

    def label(self, cedar_id: str) -> str:
        """The `@id` of a policy Cedar reports as `policyN`."""
        return self.ids.get(cedar_id, cedar_id)

    def relabel(self, message: str) -> str:
        """`message` with Cedar's positional policy ids replaced by their `@id`s."""
        for cedar_id, annotation in self.ids.items():
            message = message.replace(f"`{cedar_id}`", f"`{annotation}`")
        return message


def validate_files(sources: Mapping[str, str], schema: cedarpy.Schema) -> None:
    """Every file checked against the schema; every policy with a unique `@id`."""
    problems: list[str] = []
    for name, text in sources.items():
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            label = result.id_annotations_by_policy_id.get(error.policy_id, error.policy_id)
            message = error.error.replace(f"`{error.policy_id}`", f"`{label}`") if label else error.error
            problems.append(f"{name}: [{label}] {message}" if label else f"{name}: {message}")
    if not problems:
        problems = _missing_or_duplicate_ids(sources)
    if problems:
        raise PolicyError("invalid policies:\n" + "\n".join(problems))


def soft_rules(sources: Mapping[str, str]) -> dict[str, SoftRule]:
    """The soft policies' annotations by `@id`; a permit, or a missing annotation, is refused."""
    rules: dict[str, SoftRule] = {}
    problems: list[str] = []
    for name, text in sources.items():
        tree = cedarpy.policies_to_pst(text)
        for policy in (*tree.static_policies.values(), *tree.templates.values()):
            pid = policy.annotations.get("id", "")
            if policy.effect != "forbid":
                problems.append(f"{name}: [{pid}] a soft policy must be a forbid; its match asks for approval")
                continue
            missing = [a for a in SOFT_ANNOTATIONS if not policy.annotations.get(a)]
            if missing:
                problems.append(f"{name}: [{pid}] a soft policy needs {', '.join('@' + a for a in missing)}")
                continue
            timeout = policy.annotations["approval_timeout_s"]
            if not timeout.isdigit() or int(timeout) < 1:
                problems.append(f"{name}: [{pid}] @approval_timeout_s must be a positive number of seconds")
                continue
            rules[pid] = SoftRule(pid, policy.annotations["rule_id"], int(timeout))
    if problems:
        raise PolicyError("invalid soft policies:\n" + "\n".join(problems))
    return rules


def compile_set(sources: Mapping[str, str]) -> CompiledSet:
    """Parse already validated files into one set."""
    try:
        # Files end however their authors left them; a newline keeps a trailing comment to its own file.
        policies = cedarpy.PolicySet.from_str("\n".join(sources.values()))
        tree = policies.to_pst()
    except ValueError as exc:
        raise PolicyError(f"invalid policies: {exc}") from exc
    ids = {
        cedar_id: policy.annotations["id"] for cedar_id, policy in {**tree.static_policies, **tree.templates}.items()
    }
    return CompiledSet(policies, ids)


def _missing_or_duplicate_ids(sources: Mapping[str, str]) -> list[str]:
    """Every policy must carry a unique `@id`: decisions cite it, so it must name one policy."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, text in sources.items():
        try:
            tree = cedarpy.policies_to_pst(text)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        for policy in (*tree.static_policies.values(), *tree.templates.values()):
            annotation = policy.annotations.get("id", "")
            if not annotation:
                problems.append(f"{name}: a {policy.effect} policy has no @id annotation")
            elif annotation in seen:
                problems.append(f"{name}: @id {annotation!r} already used in {seen[annotation]}")
            else:
                seen[annotation] = name
    return problems
