"""What logic needs from outside, each with an AWS adapter and a local adapter."""
