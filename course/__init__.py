"""Everything the lessons use besides the maths of ``helper``: one module per kind of code.

- ``data``: the worked example, seeded tensors, the digits data and its small network;
- ``plots``: the palette, the number format, the heatmap, and the plots lessons call;
- ``figures``: the ``figure_*`` functions that ``make images`` draws into ``images/``;
- ``checks``: the "Your turn" checkers, on one ``check_exercise``;
- ``explorer``, ``live_plots`` and ``widgets``: the widget framework, its live plots, and the
  ``explore_*`` widgets.

Imports point one way: ``helper`` imports nothing of this package; ``plots`` and ``figures``
never import the widget modules; nothing imports ``widgets`` but the lessons.
"""
