"""The sentiment models and the deadline-bound ensemble that runs them."""
