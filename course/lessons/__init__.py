"""One module per notebook, ``l2a`` ... ``l6c``: that lesson's plots, live plots, widget,
checker and runs. A lesson may import earlier lessons, and re-exports what its notebook uses
of them: a notebook imports ``helper`` and its own lesson module.
"""
