"""Classification engines and the one entry point, `classify`."""
