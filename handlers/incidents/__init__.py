"""Stage 3: decisions grouped into incidents, classified, and answered as the plan says."""
