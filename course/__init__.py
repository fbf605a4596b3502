"""Everything the lessons use besides the maths of ``helper``: one module per kind of code.

- ``data``: the worked example, seeded tensors, the digits data;
- ``models``: the digits MLP, its training and its accuracy;
- ``language_model``: the course's byte-level transformer (lesson L6), its texts and weights;
- ``plots``: the palette, the number format, the heatmap, and the plots of single tensors;
- ``model_plots``: the plots of layers and models (outputs, storage, accuracy, calibration);
- ``formats`` and ``format_plots``: lesson L6-C's number formats side by side, and their plots;
- ``figures``: the ``figure_*`` functions that ``make images`` draws into ``images/``;
- ``checks``: the "Your turn" checkers, on one ``check_exercise``; ``model_checks``: the checker
  of L6-A's exercise on a whole model, which measures the learner's choice;
- ``observers``: lesson L5-A's activation observers and calibration;
- ``torchao_bridge``: lessons L5-B and L6-C's door to torchao;
- ``explorer``: the widget framework (``Explorer``, ``View``, controls, tables, heatmaps);
- ``live_plots``: the plots the widgets redraw in place, each with the record it draws;
- ``widget_parts``: what the lessons' widgets share (round trips, error readouts, granularity
  controls);
- ``widgets`` and ``model_widgets``: the ``explore_*`` widgets of tensors, and of layers and
  models.

Imports point one way: ``helper`` imports nothing of this package; ``plots`` and ``figures``
never import the widget modules; nothing imports ``widgets`` or ``model_widgets`` but the
lessons (``tests/test_layout.py`` holds the rules).
"""
