"""Bridge fuzzing at volume: the property of ``test_bridge_fuzz.py`` with
hundreds (quick) or thousands (full) of examples.  Trioloop only: the
reference is the model in ``_bridge_fuzz.py``.
"""

from __future__ import annotations

from hypothesis import given

from . import _bridge_fuzz as F
from . import _harness as H

EXAMPLES = {"quick": 1000, "full": 10000}


def scenario(impl: str, mode: str) -> H.Outcome:
    out = H.Outcome()
    examples = EXAMPLES[mode]
    assert impl == "trioloop", (
        "the bridge exists on trioloop only; the model is the reference"
    )

    @F.fuzz_settings(examples)
    @given(F.trees())
    def fuzz(tree: F.Node) -> None:
        F.check_drawn_tree(tree)

    with H.LogCapture() as log:
        try:
            fuzz()
            out.figures["failure"] = "none"
        except AssertionError as exc:
            message = str(exc)
            out.figures["failure"] = message.splitlines()[1][:120]
            out.figures["failing_tree"] = message
            out.problems.append(message)
    stats = F.STATS
    out.figures.update(
        examples=stats.examples,
        nodes=stats.nodes,
        max_depth=stats.max_depth,
        cancelled_calls=stats.cancelled_calls,
        root_outcomes=stats.outcomes,
    )
    out.check(
        stats.examples >= examples // 2 or bool(out.problems),
        f"only {stats.examples} examples ran",
    )
    out.check(not log.records, f"asyncio logged: {log.messages()[:5]}")
    return out


if __name__ == "__main__":
    H.main(scenario)
