"""Bridge fuzzing in the regular test suite: few examples, same property.

The stress runner (``python -m tests.stress``) runs the same property with
hundreds (quick) or thousands (full) of examples; here it runs with
``TRIOLOOP_FUZZ_EXAMPLES`` (default 60), derandomized when ``CI`` is set.
See ``_bridge_fuzz.py`` for the trees and the model.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from ._bridge_fuzz import (
    Call,
    Guard,
    Node,
    Sleep,
    Unpredictable,
    check_drawn_tree,
    check_tree,
    fuzz_settings,
    trees,
)

INF = float("inf")


@fuzz_settings(examples=60)
@given(trees())
def test_random_call_trees_match_the_model(tree: Node) -> None:
    check_drawn_tree(tree)


def node(nid: int, side: str, *steps: Sleep | Call, raises: bool = False, cleanup: float = 0.0,
         raise_on_cancel: bool = False) -> Node:  # fmt: skip
    return Node(nid, side, steps, raises, cleanup, raise_on_cancel)


def call(
    child: Node, kind: str | None = None, delay: float = 0.0, gid: int = 0
) -> Call:
    return Call(child, Guard(gid, kind, delay) if kind else None)


# Hand-made trees for the cases that matter most; each checked against the model.
CASES = {
    "trio scope cancels asyncio, which waits in cleanup": node(
        0, "trio", call(node(1, "aio", Sleep(INF), cleanup=2.25), "move_on", 1.5)
    ),
    "asyncio timeout cancels Trio, which cleans up shielded": node(
        0,
        "trio",
        call(
            node(
                1,
                "aio",
                call(node(2, "trio", Sleep(INF), cleanup=3.25), "timeout", 1.5),
            )
        ),
    ),
    "outer cancel during inner cleanup: the outer one catches it": node(
        0,
        "trio",
        call(
            node(
                1,
                "aio",
                call(node(2, "trio", Sleep(INF), cleanup=5.125), "timeout", 1.5),
            ),
            "move_on",
            4.25,
        ),
    ),  # fmt: skip
    "five levels, innermost cancelled by the root's deadline": node(
        0,
        "trio",
        call(
            node(
                1,
                "aio",
                call(
                    node(
                        2,
                        "trio",
                        call(
                            node(
                                3,
                                "aio",
                                call(node(4, "trio", Sleep(INF), cleanup=1.0625)),
                            )
                        ),
                    )
                ),
                cleanup=0.5,
            ),
            "fail_after",
            7.25,
        ),
    ),  # fmt: skip
}


@pytest.mark.parametrize("tree", CASES.values(), ids=CASES.keys())
def test_hand_made_trees(tree: Node) -> None:
    try:
        check_tree(tree)
    except Unpredictable as exc:
        pytest.skip(f"stock asyncio on this Python: {exc}")


# Found by the fuzzer, fixed in c5920dc: an error raised while a bridged call
# was being cancelled was dropped (bugs 1 and 2 in docs/reliability.md).
def test_aio_as_trio_keeps_an_error_raised_on_cancellation() -> None:
    check_tree(
        node(
            0,
            "trio",
            call(node(1, "aio", Sleep(INF), raise_on_cancel=True), "move_on", 0.5),
        )
    )


def test_trio_as_aio_keeps_an_error_raised_in_shielded_cleanup() -> None:
    check_tree(
        node(
            0,
            "trio",
            call(
                node(
                    1,
                    "aio",
                    call(node(2, "trio", raises=True, cleanup=1.25), "timeout", 0.5),
                )
            ),
        )
    )
