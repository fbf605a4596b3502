"""One module per lesson notebook: its plots, live plots, widget, exercise checker and runs."""
