"""CLI commands beyond compile/eval/inspect live here, one module per command; `snncc.cli` registers them."""
