"""The 22 MLE-bench Lite competitions, one module each; importing a module registers it."""
