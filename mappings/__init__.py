"""Source -> canonical mappings: copybooks and the decoders of the legacy systems' formats."""
