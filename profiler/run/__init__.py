"""Running a sweep: the spec, its grid of points, the worker processes that measure
them, and the run directory they are stored in."""
