"""agi_scripts package."""
