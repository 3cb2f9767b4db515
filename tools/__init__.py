"""Tools of the project that the package does not import: the vtest.avi crop cutter, the MKL shim."""
