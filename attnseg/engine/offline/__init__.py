"""The offline path: a file or folder of any length, segmented as the paper does, into files (see
attnseg.engine)."""
