"""IAM for the aws target: least-privilege policy documents (``include/iam/``) rendered for
the settings (:mod:`airsage.awsiam.policy`, ``airsage iam``), and the actions the code calls,
found statically (:mod:`airsage.awsiam.actions`), which ``tests/iam`` checks against them."""
