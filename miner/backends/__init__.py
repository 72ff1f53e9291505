"""Hash backends: ``cpu`` (argon2-cffi process pool) and ``cupy`` (CUDA kernel)."""
