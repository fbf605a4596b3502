"""One module per lesson notebook: its plots, live plots, widget, checker and runs."""
