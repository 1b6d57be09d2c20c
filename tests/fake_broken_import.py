"""A factory module that fails while it is imported (tests/bad_inputs/)."""

raise RuntimeError("this module is broken on purpose")
