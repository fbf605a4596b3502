"""The machinery every lesson uses: ``plotting`` (the palette and the drawing helpers),
``live_view`` (the base classes of live plots, and ``LivePlot``), ``explorer`` (the widget
framework), ``checker`` (``check_exercise`` and ``Verdict``) and ``widget_parts`` (what the
widgets share). It never imports a lesson.
"""
