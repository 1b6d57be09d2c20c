"""What is measured: the built-in model families and the step each phase runs."""
