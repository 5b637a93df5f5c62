"""Training in SageMaker script mode, and the model artifact contract every later step reads.

``base.TrainingRunner`` is a target's runner; ``job`` holds the job's request and result."""
