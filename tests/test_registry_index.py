"""The registry names shown by --help and `gannorm list` without importing torch are exactly
the registries' names and help after every plug-in is imported."""
import ast
import textwrap

import gannorm.plugins  # noqa: F401  (fills the registries)
from gannorm import registry_index


def test_index_read_from_source_equals_the_filled_registries():
    declared = registry_index.declared()
    variables = registry_index.registry_variables()
    assert set(declared) == set(variables) and len(variables) >= 7
    for var, reg in variables.items():
        assert registry_index.names(var) == reg.names(), var
        assert {n: registry_index.help_text(var, n) for n in reg.names()} == {n: reg.help(n) for n in reg.names()}, var
    assert "weight" in registry_index.names("NORMS") and "fid" in registry_index.names("METRICS")


def test_reads_decorators_calls_and_docstrings():
    src = textwrap.dedent('''
        @NORMS.register("a")
        class A:
            """first line of A.

            more"""

        @LOSSES.register("b", help="given help")
        def b():
            """not this"""

        def c():
            """c's doc"""

        NORMS.register("c")(c)
        NORMS.register("d", help="d help")(c)
        OTHER.register("e")(c)   # not a gannorm registry
    ''')
    found = sorted(r[:3] for r in registry_index._registrations(ast.parse(src), {"NORMS", "LOSSES"}))
    assert found == [("LOSSES", "b", "given help"), ("NORMS", "a", "first line of A."),
                     ("NORMS", "c", "c's doc"), ("NORMS", "d", "d help")]


def test_literal_attributes_equal_the_filled_registries():
    """A trick's phase, read from the source, is the one its registration stores."""
    import gannorm.plugins  # noqa: F401
    from gannorm.registry import TRICKS

    for n in TRICKS.names():
        assert registry_index.literal_attr("TRICKS", n, "phase") == TRICKS.attr(n, "phase"), n


def test_the_feature_metric_shorthand_is_indexed():
    """The recipe's ``@feature_metric(...)`` registers in METRICS; the source index reads it so."""
    import ast

    from gannorm import registry_index as ri

    src = ('from gannorm.metrics.fidelity import feature_metric\n'
           '@feature_metric("toy", help="Toy metric.", fmt=None)\n'
           'def toy(real, gen):\n    return {}\n')
    assert list(ri._registrations(ast.parse(src), ri.registry_variables())) == [("METRICS", "toy", "Toy metric.",
                                                                                 {"fmt": None})]
