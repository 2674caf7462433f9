"""One module per capability; each exports `router`."""
