"""Post-incident reviews: drafted from the evidence at resolution, edited by people."""
