"""Everything the lessons use besides the maths of ``helper``.

- ``core``: the machinery every lesson uses (palette and plotting helpers, live drawing, the
  widget framework, the exercise checker); it never imports a lesson;
- ``lessons``: one module per notebook (``l2a`` ... ``l6c``), with that lesson's plots, live
  plots, widget, checker and runs;
- shared data and models: ``data`` (the worked example, seeded tensors, the digits), ``models``
  (the digits MLP), ``language_model`` (the byte-level transformer of lesson L6) and ``texts``
  (its texts), ``torchao_bridge`` (the door to torchao), ``timing`` (one torch thread, timed
  calls: what the core and the shared modules both use).

``tests/test_layout.py`` holds the import rules.
"""
