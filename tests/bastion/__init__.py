"""Whole-host checks of the hardened bastion (testinfra)."""
