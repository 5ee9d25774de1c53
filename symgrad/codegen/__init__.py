"""Code generation: graphs to LLVM IR modules (text you can print; nothing is run here)."""
