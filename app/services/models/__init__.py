"""Model series and versions: training jobs, their lifecycle, scheduling, the registry."""
