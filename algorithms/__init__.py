"""One module per Processing algorithm; the provider discovers AirmapAlgorithm subclasses here."""
