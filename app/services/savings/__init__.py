"""Interventions on machines and the energy they saved, measured against frozen baselines."""
