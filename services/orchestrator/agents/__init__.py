"""Agent versions: every registered configuration of each component, kept by the control plane."""
