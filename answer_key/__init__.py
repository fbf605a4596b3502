"""The course's answer key, one module per lesson group; ``helper`` re-exports every public name."""
