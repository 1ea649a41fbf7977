"""DR drills against the running pipeline (the plan's monthly drill) and their reports."""
