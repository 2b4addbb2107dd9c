"""``toka bench``: named benchmarks (built-in, command, callable), the runner, and the
local baseline file that CI compares against."""
