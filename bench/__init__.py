"""qunbot's performance budgets (DESIGN.md §7), measured: `python -m bench` from the repository root.

Every figure is printed beside a reference measured in the same run on the same machine, with the ratio, because
the machines are shared and noisy: a figure counts as a ratio to its reference. Not part of the test run.
"""
