"""The analysis: the project graph, the value-flow interpreter on `ast`, and the
read-only queries rules make of them."""
