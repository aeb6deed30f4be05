"""Strideguard: training load and injury-prevention alerts for runners."""
