"""SavedModel export of the trained models (``export_caae``, ``export_cgan``) with uint8 image signatures."""
