"""The course's answer key, one module per lesson group; ``helper`` is its front page and
re-exports every public name (``import helper`` gives them all)."""
