"""The per-version HTML report (`versions/<version>/_report.html`, or the quarantine's `report.html`):
the gate's input and verdict turned into `evaluation.report.ReportInput`, with the modality's own
parts (sample pairs, series, image grid) from the `report_parts` function it registered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from augment_jobs.checks import GateInput
    from augment_jobs.contract import GateReport


def render(g: GateInput, report: GateReport) -> str:
    """The self-contained HTML page of one version (passed or quarantined)."""
    from augment_jobs import governance
    from augment_jobs.evaluation.report import ReportInput, render_report
    from augment_jobs.modality import resolve
    from augment_jobs.registry import modality_spec

    spec = modality_spec(g.cfg.modality)
    try:
        approval = governance.approval_for(g.cfg, g.plan.publish_uri)
    except governance.AuditBroken:
        approval = None  # the run was let through by the snapshot's check; the report shows none
    parts: dict[str, Any] = resolve(spec.report_parts)(g) if spec.report_parts else {}
    return render_report(ReportInput(
        dataset=report.dataset, version=report.version, passed=report.passed,
        checks=[(c.name, c.passed, c.detail) for c in report.checks], modality=g.cfg.modality, label=g.cfg.label,
        counts_before={k: c.before for k, c in report.counts.items()},
        counts_after={k: c.after for k, c in report.counts.items()},
        efficacy=report.efficacy or None, privacy=report.privacy or None, skipped=report.skipped,
        notes=[n for s in g.shards for n in s.notes], fairness=report.fairness or None, quality=report.quality or None,
        policy=g.plan.config_sha256, approval=approval, approval_required=governance.approval_required(g.cfg),
        limitations=list(g.cfg.limitations), **parts,
    ))
