"""Training in SageMaker script mode, and the model artifact contract every later step reads."""
