"""Champion/challenger promotion: ``production`` moves only to a model that is not worse.

:func:`promote` scores the ``staging`` and the ``production`` versions now, on the same test
file read once, and moves the ``production`` alias to the candidate only if its macro-F1 is at
least the champion's (plus a configurable margin). The decision and both scores are written on
the candidate version as tags either way.

With enough held-out corrections (tickets people corrected, never trained on), they decide
instead: the candidate must be at least as good on them (plus the margin), and may lose at most
``max_test_drop`` of macro-F1 on the fixed test set. Corrections are what the call centre says
its model gets wrong; the fixed test set guards what it already gets right.

When the ticket store holds the candidate's shadow answers (the agent sent it a share of live
tickets while it was ``staging``), the decision also reports its live agreement with production
and both models' accuracy on the shadowed tickets people corrected, beside the offline scores.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from callcenterai.config import PRODUCTION_ALIAS, STAGING_ALIAS, DataParams
from callcenterai.data import read_split
from callcenterai.errors import RegistryError
from callcenterai.evaluate import evaluate_frame, load_eval_data
from callcenterai.models.store import load_classifier
from callcenterai.registry import alias_version, move_production
from callcenterai.tickets.store import StoreError, TicketStore

logger = logging.getLogger(__name__)


@dataclass
class PromotionDecision:
    model_name: str
    candidate_version: str
    candidate_macro_f1: float
    champion_version: str | None
    champion_macro_f1: float | None
    min_improvement: float
    promoted: bool
    corrections_set: str | None
    corrections: int
    candidate_corrections_macro_f1: float | None
    champion_corrections_macro_f1: float | None
    max_test_drop: float
    live: dict | None  # the shadow period: agreement with production, accuracy on corrections
    reason: str
    test_set: str
    test_set_sha256: str
    decided_at: str

    def as_dict(self) -> dict:
        return asdict(self)


def promote(
    name: str,
    test_path: Path,
    min_improvement: float = 0.0,
    candidate_alias: str = STAGING_ALIAS,
    client: MlflowClient | None = None,
    data_params: DataParams | None = None,
    scored: dict[str, float] | None = None,
    corrections_path: Path | None = None,
    min_corrections: int = 20,
    max_test_drop: float = 0.005,
    store: TicketStore | None = None,
) -> PromotionDecision:
    """Champion/challenger: give ``production`` to the ``staging`` version if it is not worse.

    Both versions are evaluated on ``test_path`` now, so stored scores from different test sets
    are never compared; ``scored`` (version -> macro-F1) holds scores the caller has just
    measured on that same file, which are not measured again. The decision is recorded as tags
    on the candidate version.
    """
    client = client or MlflowClient()
    data_params = data_params or DataParams()
    candidate = alias_version(name, candidate_alias, client)
    if candidate is None:
        raise RegistryError(
            f"{name} has no version with alias {candidate_alias!r}: train and register one first"
        )
    champion = alias_version(name, PRODUCTION_ALIAS, client)
    frame, data_info = load_eval_data(Path(test_path), data_params)

    corrections = None
    if corrections_path is not None and Path(corrections_path).is_file():
        held_out = read_split(Path(corrections_path))
        corrections = held_out if len(held_out) >= min_corrections else None
    models: dict[str, object] = {}

    def macro_f1(version: ModelVersion, on=None) -> float:
        if on is None and scored and str(version.version) in scored:
            return scored[str(version.version)]
        if version.version not in models:
            models[version.version] = load_classifier(f"models:/{name}/{version.version}")
        data = frame if on is None else on
        return evaluate_frame(models[version.version], data, data_params.short_ticket_words)[0][
            "macro_f1"
        ]

    candidate_f1 = macro_f1(candidate)
    champion_f1 = candidate_corr = champion_corr = None
    if champion is None:
        promoted, reason = True, "no production version yet"
    elif champion.version == candidate.version:
        champion_f1 = candidate_f1
        promoted, reason = True, "candidate is already the production version"
    elif corrections is not None:
        champion_f1 = macro_f1(champion)
        candidate_corr, champion_corr = macro_f1(candidate, corrections), macro_f1(
            champion, corrections
        )
        better = candidate_corr >= champion_corr + min_improvement
        kept = candidate_f1 >= champion_f1 - max_test_drop
        promoted = better and kept
        reason = (
            f"held-out corrections macro-F1 {candidate_corr:.4f} "
            f"{'>=' if better else '<'} production {champion_corr:.4f} + margin "
            f"{min_improvement:.4f}; test macro-F1 {candidate_f1:.4f} "
            f"{'within' if kept else 'more than'} {max_test_drop:.4f} of production "
            f"{champion_f1:.4f}"
        )
    else:
        champion_f1 = macro_f1(champion)
        promoted = candidate_f1 >= champion_f1 + min_improvement
        comparison = ">=" if promoted else "<"
        reason = (
            f"candidate macro-F1 {candidate_f1:.4f} {comparison} production {champion_f1:.4f}"
            f" + margin {min_improvement:.4f}"
        )
    live = None
    if store is not None:  # what the candidate answered live as the shadow challenger
        try:
            live = store.shadow_summary(name, str(candidate.version))
        except StoreError as exc:
            logger.warning("promotion: no live figures (%s)", exc)
    decision = PromotionDecision(
        model_name=name,
        candidate_version=str(candidate.version),
        candidate_macro_f1=round(candidate_f1, 6),
        champion_version=str(champion.version) if champion else None,
        champion_macro_f1=None if champion_f1 is None else round(champion_f1, 6),
        min_improvement=min_improvement,
        promoted=promoted,
        corrections_set=None if corrections is None else str(corrections_path),
        corrections=0 if corrections is None else len(corrections),
        candidate_corrections_macro_f1=None if candidate_corr is None else round(candidate_corr, 6),
        champion_corrections_macro_f1=None if champion_corr is None else round(champion_corr, 6),
        max_test_drop=max_test_drop,
        live=live,
        reason=reason,
        test_set=str(test_path),
        test_set_sha256=data_info["sha256"],
        decided_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    tags = {
        "promotion.decision": "promoted" if promoted else "refused",
        "promotion.reason": reason,
        "promotion.candidate_macro_f1": str(decision.candidate_macro_f1),
        "promotion.champion_version": str(decision.champion_version),
        "promotion.champion_macro_f1": str(decision.champion_macro_f1),
        "promotion.test_set_sha256": decision.test_set_sha256,
        "promotion.corrections": str(decision.corrections),
        "promotion.candidate_corrections_macro_f1": str(decision.candidate_corrections_macro_f1),
        "promotion.champion_corrections_macro_f1": str(decision.champion_corrections_macro_f1),
        "promotion.decided_at": decision.decided_at,
    }
    for key, value in (live or {}).items():
        tags[f"promotion.live_{key}"] = str(value)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(candidate.version), key, value)
    if promoted:
        move_production(name, str(candidate.version), PRODUCTION_ALIAS, client)
    logger.info("promotion of %s v%s: %s", name, candidate.version, reason)
    return decision
