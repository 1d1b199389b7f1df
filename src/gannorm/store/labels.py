"""The cell labels with a role beyond naming a setting, shared by the runner that writes them
and the report that reads them.

``draw``: the axis of a study's drawn settings (its ``sample`` section); ``phase=confirm``:
a tune-confirm study's confirmation runs (the best draw of each method retrained on fresh
seeds), which carry their draw too.
"""
from __future__ import annotations

#: the axis of a study's drawn settings (``sample``)
DRAW_AXIS = "draw"
#: the label of a tune-confirm study's confirmation runs
PHASE, CONFIRM = "phase", "confirm"
