"""The preparation report (`OUT/report.json`): counts, skipped utterances, dropped mixtures."""

from __future__ import annotations

from collections.abc import Mapping

from avss_bench import __version__
from avss_bench.core.constants import SAMPLE_RATE
from avss_bench.corpora.base import Corpus
from avss_bench.prepare.lists import SplitList
from avss_bench.prepare.records import Layout, PrepareState


def build_report(corp: Corpus, layout: Layout, lists: Mapping[str, SplitList], state: PrepareState,
            kept: Mapping[str, list], problems: Mapping[str, list[dict]],
            options: dict) -> dict:
    skipped = []
    for utt, located in sorted(state.located.items()):
        if located is None:
            skipped.append({"utt": utt, "stage": "index", "reason": "not found in the corpus"})
    for stage, records in (("sources", state.audio), ("lips", state.lips)):
        for utt, record in sorted(records.items()):
            if not record.get("ok"):
                skipped.append({"utt": utt, "stage": stage, "media": record.get("media"),
                                "reason": record["reason"]})
    warnings = [{"utt": utt, "warning": f"short source: {r['num_samples'] / SAMPLE_RATE:.3f} s "
                                        f"< {options['segment_seconds']:g} s; its mixtures are "
                                        "'min'-truncated to it (as in the original recipe)"}
                for utt, r in sorted(state.audio.items()) if r.get("ok") and r.get("short")]
    dropped = [p for split in lists for p in problems.get(split, [])]
    return {
        "corpus": corp.name,
        "title": corp.title,
        "root": str(corp.root),
        "out": str(layout.out),
        "avss_bench_version": __version__,
        "options": options,
        "lists": {split: {"origin": item.origin, "source": item.source, "sha256": item.sha256,
                          "lines": len(item.lines)} for split, item in lists.items()},
        "counts": {split: {"listed": len(lists[split].lines),
                           "handled_here": len(kept[split]) + len(problems.get(split, [])),
                           "written": len(kept[split]),
                           "dropped": len(problems.get(split, []))} for split in lists},
        "utterances": {
            "needed": len(state.located),
            "found": sum(v is not None for v in state.located.values()),
            "sources_ok": sum(bool(r.get("ok")) for r in state.audio.values()),
            "lips_ok": sum(bool(r.get("ok")) for r in state.lips.values()),
            "skipped": len(skipped),
        },
        "skipped": skipped,
        "dropped": dropped,
        "warnings": warnings,
    }
