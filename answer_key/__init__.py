"""The course's answer key: the maths every lesson builds, one module per lesson group.

Read each module top to bottom, in lesson order; ``helper`` (beside this package) is its front
page and re-exports every public name. Each module imports only ``basics`` and the modules of
earlier lessons, and nothing but torch, NumPy and the standard library.
"""
